"""``grade``: autograde every submission of an assignment, one after another or in parallel on Dask.

Before any student: bubblewrap must be there (or ``unsafe``), the jet features the notebooks read are
computed once and shown to the kernels read-only (as are the pretrained weights of
:mod:`dl4phys.data.pretrained`, which the instructor downloads once), the assignment is in the gradebook,
and the reference records of its hidden tests are computed once on this machine
(:mod:`dl4phys.judging.reference`).

In parallel (``workers > 1`` on a Dask ``LocalCluster``, or an existing cluster's ``scheduler``), each
task grades one student against a private SQLite copy of the assignment's gradebook entries and returns
the grades as plain data; only this process writes them into the course gradebook, once per student,
so SQLite is never written concurrently and a task Dask runs again (a worker lost) cannot write twice.
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import replace
from pathlib import Path

from .autograde import GradeOutcome, autograde_student
from .course import Course, CourseError, gradebook, progress
from .notes import save_notes
from .release import ensure_in_gradebook, release

log = logging.getLogger("dl4phys.grade")


def reads_jet_features(course: Course, assignment: str) -> bool:
    """Does the assignment compute jet features (N-subjettiness) in its notebooks?"""
    return any(
        name in path.read_text(errors="replace")
        for path in (course.source / assignment).glob("*.ipynb")
        for name in ("load_features(", "hidden_test_features(")
    )


def grading_course(course: Course, assignment: str, unsafe: bool = False) -> Course:
    """The course as this run grades ``assignment``: sandbox or not, and the grader's caches shown read-only."""
    from .. import sandbox
    from ..data import pretrained, splits

    if unsafe:
        return course.with_overrides({"SandboxedExecute": {"sandbox": False}})
    if sandbox.bwrap_path() is None:
        raise CourseError(
            "bubblewrap is not installed, so student code would run with your rights: "
            "`apt-get install bubblewrap` (make does it as root), or pass --unsafe"
        )
    settings = course.config.get("SandboxKernelManager", {})
    readonly = list(settings.get("readonly_paths", []))
    env = dict(settings.get("kernel_env", {}))
    if reads_jet_features(course, assignment):
        splits.warm_feature_cache()  # once per machine: the notebooks then read the features, not recompute them
    # The jet features the grader computed, and the pretrained weights the instructor downloaded
    # (`python -m dl4phys.data weights`): read, never written, by kernels, which have no network.
    for folder in (splits.feature_cache_dir(), pretrained.weights_dir()):
        if folder.is_dir():
            readonly.append(str(folder))
            env["DL4PHYS_CACHE"] = str(splits.cache_root())
    return course.with_overrides({"SandboxKernelManager": {"readonly_paths": readonly, "kernel_env": env}})


def prepare_references(course: Course, assignment: str) -> None:
    """Compute (or find cached) the reference records of the assignment's probed notebooks on this machine."""
    from ..judging.reference import probed_cells, reference_records

    settings = course.config.get("JudgeTestCells", {})
    root = Path(settings["reference_dir"]) if settings.get("reference_dir") else None
    for name in course.notebooks(assignment):
        source = course.source / assignment / f"{name}.ipynb"
        if probed_cells(source):
            reference_records(source, assignment, course.config, root, log=log)


def grade(
    course: Course,
    assignment: str,
    students: list[str] | None = None,
    *,
    unsafe: bool = False,
    workers: int = 1,
    scheduler: str | None = None,
) -> list[GradeOutcome]:
    """Autograde the submissions of ``assignment`` (all students, or those given) in the sandbox.

    Every student is attempted and nothing a student submitted is modified. Notes (kernel deaths,
    timeouts, tampering, repaired notebooks) go to ``grading_notes.json`` for the report.
    """
    course.check_assignment(assignment)
    students = students or course.students(assignment)
    if not students:
        raise CourseError(
            f"no submissions for {assignment}: put them in {course.submitted}/<student>/{assignment}/ "
            "(nbgrader collect does this)"
        )
    course = grading_course(course, assignment, unsafe)
    ensure_in_gradebook(course, assignment)
    if workers <= 1 and scheduler is None:
        prepare_references(course, assignment)
        outcomes = [autograde_student(course, assignment, student) for student in progress(students, f"grading {assignment}")]
    else:
        outcomes = _grade_in_parallel(course, assignment, students, workers, scheduler)
    save_notes(course, outcomes)
    return outcomes


# ------------------------------------------------------------------------------------------ on Dask
def grade_in_private_gradebook(course: Course, assignment: str, student: str, template: str):
    """A Dask task: grade one student against a private copy of the gradebook; return outcome and grades."""
    _share_gpus()
    with tempfile.TemporaryDirectory(prefix="dl4phys-grade-") as scratch:
        private_db = Path(scratch) / "gradebook.db"
        shutil.copyfile(template, private_db)
        private = course.with_overrides({"CourseDirectory": {"db_url": f"sqlite:///{private_db}"}})
        outcome = autograde_student(private, assignment, student)
        grades = export_grades(private, assignment, student) if outcome.ok else None
    return outcome, grades


def _share_gpus() -> None:
    """With several GPUs, each Dask worker takes its own (worker i gets GPU i mod n)."""
    if "CUDA_VISIBLE_DEVICES" in os.environ or not shutil.which("nvidia-smi"):
        return
    try:
        from distributed import get_worker

        index = int(get_worker().name)
    except (ImportError, ValueError, TypeError):
        return
    gpus = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True).stdout.count("GPU ")
    if gpus > 1:
        os.environ["CUDA_VISIBLE_DEVICES"] = str(index % gpus)


def export_grades(course: Course, assignment: str, student: str) -> dict:
    """Everything autograding wrote about one submission, as plain data."""
    with gradebook(course) as gb:
        submission = gb.find_submission(assignment, student)
        return {
            "timestamp": submission.timestamp,
            "notebooks": {
                nb.name: {
                    "late_submission_penalty": nb.late_submission_penalty,
                    "grades": {g.name: (g.auto_score, g.needs_manual_grade) for g in nb.grades},
                    "comments": {c.name: c.auto_comment for c in nb.comments},
                }
                for nb in submission.notebooks
            },
        }


def import_grades(course: Course, assignment: str, student: str, grades: dict) -> None:
    """Write one student's exported grades into the course gradebook (the coordinator's job)."""
    with gradebook(course) as gb:
        gb.update_or_create_student(student)
        gb.update_or_create_submission(assignment, student, timestamp=grades["timestamp"])
        for name, notebook in grades["notebooks"].items():
            submitted = gb.find_submission_notebook(name, assignment, student)
            submitted.late_submission_penalty = notebook["late_submission_penalty"]
            for cell, (auto_score, needs_manual_grade) in notebook["grades"].items():
                grade_row = gb.find_grade(cell, name, assignment, student)
                grade_row.auto_score, grade_row.needs_manual_grade = auto_score, needs_manual_grade
            for cell, auto_comment in notebook["comments"].items():
                gb.find_comment(cell, name, assignment, student).auto_comment = auto_comment
        gb.db.commit()


def assignment_template(course: Course, assignment: str) -> Path:
    """A fresh SQLite gradebook holding just the assignment (whatever database the course uses)."""
    from nbgrader.api import Gradebook

    folder = Path(tempfile.mkdtemp(prefix="dl4phys-template-", dir=course.root))
    template = folder / "gradebook.db"
    scratch = replace(course, root=folder, release=folder / "release", database=f"sqlite:///{template}")
    release(scratch, [assignment])
    with gradebook(course) as gb:
        duedate = gb.find_assignment(assignment).duedate
    with Gradebook(f"sqlite:///{template}", course.config.CourseDirectory.course_id) as gb:
        gb.update_or_create_assignment(assignment, duedate=duedate)
    return template


def kernel_threads(workers: int) -> int:
    """Threads for the notebooks of each of ``workers`` parallel graders: the machine's cores shared out, at least one."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return max(1, cores // max(1, workers))


def local_cluster(workers: int):
    """A Dask LocalCluster of ``workers`` single-task worker processes on this machine.

    Dask starts worker processes with one BLAS/OpenMP thread each; the notebooks they grade (torch
    training) get the machine's cores shared out instead (:func:`kernel_threads`), which keeps them
    from oversubscribing the cores without leaving cores idle.
    """
    import dask
    from dask.distributed import LocalCluster

    threads = kernel_threads(workers)
    with dask.config.set(
        {
            f"distributed.nanny.pre-spawn-environ.{name}": threads
            for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")
        }
    ):
        return LocalCluster(
            n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=":0", silence_logs=logging.CRITICAL
        )


def _grade_in_parallel(
    course: Course, assignment: str, students: list[str], workers: int, scheduler: str | None
) -> list[GradeOutcome]:
    from dask.distributed import Client, as_completed
    from tqdm.auto import tqdm

    template = assignment_template(course, assignment)
    cluster = None if scheduler else local_cluster(workers)
    outcomes: dict[str, GradeOutcome] = {}
    try:
        with Client(scheduler or cluster) as client:
            # On a local cluster the reference records are computed by a worker while the others run
            # the first students' notebooks (their judges wait for the records on the reference's lock
            # file). A remote cluster's workers may have another device: each computes its own there.
            reference = None
            if scheduler is None:
                reference = client.submit(prepare_references, course, assignment, key=f"reference-{assignment}", priority=1)
            futures = [
                client.submit(
                    grade_in_private_gradebook,
                    course,
                    assignment,
                    student,
                    str(template),
                    key=f"grade-{assignment}-{student}",
                    pure=False,
                    retries=2,
                )
                for student in students
            ]
            bar = tqdm(
                total=len(futures),
                desc=f"grading {assignment}",
                unit="student",
                leave=False,
                disable=len(futures) < 2 or not sys.stderr.isatty(),
            )
            for future in as_completed(futures + ([reference] if reference is not None else [])):
                if future is reference:
                    if future.status == "error":  # the instructor's error: no student is graded against it
                        client.cancel(futures)
                        raise future.exception()
                    continue
                student = future.key.split(f"grade-{assignment}-", 1)[1]
                try:
                    outcome, grades = future.result()
                except Exception as err:  # a worker lost more often than the retries: reported, the others go on
                    outcome, grades = GradeOutcome(student, assignment, False, f"worker failed: {err}"), None
                if grades is not None and student not in outcomes:  # each grade written once
                    import_grades(course, assignment, outcome.student, grades)
                outcomes.setdefault(student, outcome)
                bar.update()
            bar.close()
    finally:
        if cluster is not None:
            cluster.close()
        shutil.rmtree(template.parent, ignore_errors=True)
    return [outcomes[s] for s in students]
