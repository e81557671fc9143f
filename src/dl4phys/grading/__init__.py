"""The instructor's grading pipeline, a thin layer over nbgrader's Python API, one module per job.

==================  =====================================================================
:mod:`.course`      where a course lives, its configuration (read once), nbgrader's API
:mod:`.release`     the student versions (nbgrader's generate_assignment)
:mod:`.autograde`   one student's submission, repaired when broken, with notes
:mod:`.parallel`    ``grade``: every student, serially or on Dask, one gradebook writer
:mod:`.notes`       the grader's notes and the score table (pandas, grades.csv)
:mod:`.feedback`    HTML feedback without hidden tests
:mod:`.report`      the instructor's HTML report (a jinja2 template)
:mod:`.cases`       demo and hostile submissions as patch files
:mod:`.demo`        release, grade, feedback and report of the demo cases
:mod:`.lectures`    the README's table of "open in" badges
:mod:`.publish`     the students' repository: releases and the student package, nothing of the instructor's
:mod:`.tamper`      the static scan for code that looks like cheating
==================  =====================================================================

The names below are the pipeline's public interface; the command line (:mod:`dl4phys.cli`) and the
tests use them.
"""

from .autograde import GradeOutcome, autograde_student
from .course import Course, CourseError, gradebook, load_config, nbgrader_api
from .demo import demo, demo_cases, expected_scores, submit_demo_cases
from .feedback import feedback
from .notes import NOTES_FILE, grading_notes, grading_times, score_of, score_table, scores
from .parallel import grade, grade_assignments, kernel_threads, local_cluster
from .release import ensure_in_gradebook, release
from .report import report

__all__ = [
    "NOTES_FILE",
    "Course",
    "CourseError",
    "GradeOutcome",
    "autograde_student",
    "demo",
    "demo_cases",
    "ensure_in_gradebook",
    "expected_scores",
    "feedback",
    "grade",
    "grade_assignments",
    "gradebook",
    "grading_notes",
    "grading_times",
    "kernel_threads",
    "load_config",
    "local_cluster",
    "nbgrader_api",
    "release",
    "report",
    "score_of",
    "score_table",
    "scores",
    "submit_demo_cases",
]
