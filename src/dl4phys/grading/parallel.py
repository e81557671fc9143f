"""``grade``: autograde every submission of an assignment, one after another or in parallel on Dask;
``grade_assignments``: several assignments in one run, on one cluster.

Before any student: bubblewrap must be there (or ``unsafe``), the jet features the notebooks read are
computed once and shown to the kernels read-only (as are the pretrained weights of
:mod:`dl4phys.data.pretrained`, which the instructor downloads once), the assignment is in the gradebook,
and the reference records of its hidden tests are computed once on this machine
(:mod:`dl4phys.judging.reference`).

In parallel (``workers > 1`` on a Dask ``LocalCluster``, or an existing cluster's ``scheduler``), each
task grades one student against a private SQLite copy of the assignment's gradebook entries and returns
the grades as plain data; only this process writes them into the course gradebook, once per student,
so SQLite is never written concurrently and a task Dask runs again (a worker lost) cannot write twice.
On a local cluster the reference records go first (one task per assignment); each assignment's students
follow with a Dask priority of the seconds its source notebook took, so the longest notebooks start
first and the short ones fill the end (no worker idles while another finishes a long one).
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


def prepare_references(course: Course, assignment: str) -> float:
    """Compute (or find cached) the reference records of the assignment's probed notebooks on this machine.

    Returns the seconds the source notebooks took to run (as recorded when computed; 0 if unknown): a
    measure of what grading one student of the assignment costs.
    """
    from ..judging.reference import probed_cells, reference_records, reference_seconds

    settings = course.config.get("JudgeTestCells", {})
    root = Path(settings["reference_dir"]) if settings.get("reference_dir") else None
    seconds = 0.0
    for name in course.notebooks(assignment):
        source = course.source / assignment / f"{name}.ipynb"
        if probed_cells(source):
            reference_records(source, assignment, course.config, root, log=log)
            seconds += reference_seconds(source, assignment, root)
    return seconds


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
    return grade_assignments(course, {assignment: students}, unsafe=unsafe, workers=workers, scheduler=scheduler)


def grade_assignments(
    course: Course,
    submissions: dict[str, list[str] | None],
    *,
    unsafe: bool = False,
    workers: int = 1,
    scheduler: str | None = None,
) -> list[GradeOutcome]:
    """Autograde several assignments in one run (``assignment -> students``, ``None``: all its students).

    In parallel the assignments share one cluster, so no worker idles while the last notebooks of one
    assignment finish: the students of the assignments whose notebooks take longest go first.
    """
    plans: dict[str, tuple[Course, list[str]]] = {}
    for assignment, students in submissions.items():
        course.check_assignment(assignment)
        students = students or course.students(assignment)
        if not students:
            raise CourseError(
                f"no submissions for {assignment}: put them in {course.submitted}/<student>/{assignment}/ "
                "(nbgrader collect does this)"
            )
        plans[assignment] = (grading_course(course, assignment, unsafe), students)
        ensure_in_gradebook(course, assignment)
    outcomes: list[GradeOutcome] = []
    if workers <= 1 and scheduler is None:
        for assignment, (graded, students) in plans.items():
            prepare_references(graded, assignment)
            outcomes += [
                autograde_student(graded, assignment, student) for student in progress(students, f"grading {assignment}")
            ]
    else:
        outcomes = _grade_in_parallel(course, plans, workers, scheduler)
    save_notes(course, outcomes)
    return outcomes


# ------------------------------------------------------------------------------------------ on Dask
def grade_in_private_gradebook(course: Course, assignment: str, student: str, template: str):
    """A Dask task: grade one student against a private copy of the gradebook; return outcome and grades."""
    take_share()
    with tempfile.TemporaryDirectory(prefix="dl4phys-grade-") as scratch:
        private_db = Path(scratch) / "gradebook.db"
        shutil.copyfile(template, private_db)
        private = course.with_overrides({"CourseDirectory": {"db_url": f"sqlite:///{private_db}"}})
        outcome = autograde_student(private, assignment, student)
        grades = export_grades(private, assignment, student) if outcome.ok else None
    return outcome, grades


def reference_task(course: Course, assignment: str) -> float:
    """A Dask task: :func:`prepare_references` on the worker's share of the machine."""
    take_share()
    return prepare_references(course, assignment)


def take_share() -> None:
    """On a local cluster, a worker and the kernels it starts keep to their own GPU and cores."""
    _share_gpus()
    _share_cores()


def _worker_index() -> int | None:
    """The index of the local-cluster worker this runs on (its name); None elsewhere or on a remote cluster."""
    try:
        from distributed import get_worker

        return int(get_worker().name)
    except (ImportError, ValueError, TypeError):
        return None


def _share_cores() -> None:
    """Worker i keeps to the i-th block of OMP_NUM_THREADS cores (:func:`kernel_threads`), and so do its kernels.

    Programs size themselves by the cores they may use: fastai's DataLoaders start min(16, cores) worker
    processes. Unpinned, each of 8 kernels on a 64-core grader would start 16 of them (128 processes, and
    memory against each sandbox's cap); pinned, each starts as many as its share of the cores.
    """
    index = _worker_index()
    share = int(os.environ.get("OMP_NUM_THREADS", "0") or 0)
    if index is None or share <= 0 or not hasattr(os, "sched_setaffinity"):
        return
    cores = sorted(os.sched_getaffinity(0))
    if share >= len(cores):  # all of them, or pinned already by an earlier task
        return
    start = (index * share) % len(cores)
    os.sched_setaffinity(0, (cores + cores)[start : start + share])


def _share_gpus() -> None:
    """With several GPUs, each Dask worker takes its own (worker i gets GPU i mod n)."""
    index = _worker_index()
    if index is None or "CUDA_VISIBLE_DEVICES" in os.environ or not shutil.which("nvidia-smi"):
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
    course: Course, plans: dict[str, tuple[Course, list[str]]], workers: int, scheduler: str | None
) -> list[GradeOutcome]:
    from dask.distributed import Client, as_completed
    from tqdm.auto import tqdm

    templates = {assignment: assignment_template(course, assignment) for assignment in plans}
    cluster = None if scheduler else local_cluster(workers)
    tasks: dict[str, tuple[str, str]] = {}  # task key -> (assignment, student)
    submitted: list = []
    outcomes: dict[tuple[str, str], GradeOutcome] = {}

    def submit_students(client, assignment: str, priority: int) -> list:
        graded, students = plans[assignment]
        futures = []
        for student in students:
            key = f"grade-{assignment}-{student}"
            tasks[key] = (assignment, student)
            futures.append(
                client.submit(
                    grade_in_private_gradebook,
                    graded,
                    assignment,
                    student,
                    str(templates[assignment]),
                    key=key,
                    pure=False,
                    retries=2,
                    priority=priority,
                )
            )
        submitted.extend(futures)
        return futures

    try:
        with Client(scheduler or cluster) as client:
            pending = as_completed()
            if scheduler is None:
                # On a local cluster the workers first compute the reference records (one task per
                # assignment, before any student); each assignment's students follow its reference,
                # those whose notebooks ran longest first. A remote cluster's workers may have another
                # device: each computes its own records there, when its first student needs them.
                references = {
                    client.submit(
                        reference_task, graded, assignment, key=f"reference-{assignment}", pure=False, priority=1_000_000
                    ): assignment
                    for assignment, (graded, _) in plans.items()
                }
                pending.update(references)
            else:
                references = {}
                for index, assignment in enumerate(plans):
                    pending.update(submit_students(client, assignment, priority=-index))
            bar = tqdm(
                total=sum(len(students) for _, students in plans.values()),
                desc="grading " + ", ".join(plans),
                unit="student",
                leave=False,
                disable=not sys.stderr.isatty(),
            )
            for future in pending:
                if future in references:
                    if future.status == "error":  # the instructor's error: no student is graded against it
                        error = future.exception()
                        client.cancel([f for f in [*references, *submitted] if f is not future])
                        raise error
                    pending.update(submit_students(client, references[future], priority=int(future.result())))
                    continue
                assignment, student = tasks[future.key]
                try:
                    outcome, grades = future.result()
                except Exception as err:  # a worker lost more often than the retries: reported, the others go on
                    outcome, grades = GradeOutcome(student, assignment, False, f"worker failed: {err}"), None
                if grades is not None and (assignment, student) not in outcomes:  # each grade written once
                    import_grades(course, assignment, outcome.student, grades)
                outcomes.setdefault((assignment, student), outcome)
                bar.update()
            bar.close()
    finally:
        if cluster is not None:
            cluster.close()
        for template in templates.values():
            shutil.rmtree(template.parent, ignore_errors=True)
    return [outcomes[(assignment, s)] for assignment, (_, students) in plans.items() for s in students]
