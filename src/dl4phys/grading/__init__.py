"""The grading pipeline of the course, a thin layer over nbgrader's Python API.

A :class:`Course` says where things live: the instructor's ``source/`` notebooks, the students'
``release/`` versions, and a course directory holding ``submitted/``, ``autograded/``,
``feedback/`` and ``gradebook.db``. The functions below release, autograde, write feedback and
report scores; the command line (:mod:`dl4phys.cli`) and the tests call the same functions.
"""

from __future__ import annotations

import csv
import json
import logging
import os
import re
import shutil
import sys
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path

import nbformat

REPO_ROOT = Path(__file__).resolve().parents[3]
CONFIG_FILE = REPO_ROOT / "nbgrader_config.py"
DEMO_SUBMISSIONS = REPO_ROOT / "tests" / "submissions"


class CourseError(Exception):
    """A mistake the user can fix; the command line prints its message on one line."""


@dataclass(frozen=True)
class Course:
    """Where a course's notebooks and student data live.

    ``root`` holds ``submitted/<student>/<assignment>/``, ``autograded/``, ``feedback/``,
    ``gradebook.db`` and ``grades.csv``; ``source`` and ``release`` default to the repository's.
    """

    root: Path = REPO_ROOT
    source: Path = REPO_ROOT / "source"
    release: Path = REPO_ROOT / "release"
    config_overrides: dict = field(default_factory=dict, compare=False)
    # SQLAlchemy URL of a gradebook on a database server (e.g. postgresql+psycopg2://grader@db.example.org/dl4phys);
    # None: c.CourseDirectory.db_url of nbgrader_config.py if set, else gradebook.db in ``root``.
    database: str | None = None

    @property
    def submitted(self) -> Path:
        return self.root / "submitted"

    @property
    def autograded(self) -> Path:
        return self.root / "autograded"

    @property
    def feedback(self) -> Path:
        return self.root / "feedback"

    @property
    def gradebook_path(self) -> Path:
        return self.root / "gradebook.db"

    @property
    def db_url(self) -> str:
        return self.database or f"sqlite:///{self.gradebook_path}"

    def assignments(self) -> list[str]:
        """Assignment ids found under ``source/``, in name order."""
        if not self.source.is_dir():
            return []
        return sorted(p.name for p in self.source.iterdir() if p.is_dir() and any(p.glob("*.ipynb")))

    def check_assignment(self, assignment: str) -> None:
        if assignment not in self.assignments():
            known = ", ".join(self.assignments()) or "none"
            raise CourseError(f"unknown assignment {assignment!r}: the assignments under {self.source} are {known}")

    def notebooks(self, assignment: str) -> list[str]:
        """Notebook names (without ``.ipynb``) of an assignment."""
        return sorted(p.stem for p in (self.source / assignment).glob("*.ipynb"))

    def students(self, assignment: str) -> list[str]:
        """Students with a submission folder for ``assignment``."""
        if not self.submitted.is_dir():
            return []
        return sorted(p.name for p in self.submitted.iterdir() if (p / assignment).is_dir())


def load_config(course: Course):
    """The course's nbgrader configuration with its directories set to ``course``."""
    from traitlets.config import Config
    from traitlets.config.loader import PyFileConfigLoader

    config = PyFileConfigLoader(CONFIG_FILE.name, path=str(CONFIG_FILE.parent)).load_config()
    # nbgrader joins these onto the root with os.path.join, so absolute paths are kept as they are.
    config.CourseDirectory.root = str(course.root)
    config.CourseDirectory.source_directory = str(course.source)
    config.CourseDirectory.release_directory = str(course.release)
    if course.database or "db_url" not in config.CourseDirectory:
        config.CourseDirectory.db_url = course.db_url
    config.merge(Config(course.config_overrides))
    return config


@contextmanager
def _quiet_nbgrader():
    """nbgrader logs every step at INFO; keep the terminal for our own progress and errors."""
    logger = logging.getLogger("traitlets")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)


def _venv_bin_on_path() -> None:
    """nbgrader runs the ``alembic`` script of its environment by name, so that bin/ must be on PATH."""
    bin_dir = str(Path(sys.executable).parent)
    if bin_dir not in os.environ.get("PATH", "").split(os.pathsep):
        os.environ["PATH"] = bin_dir + os.pathsep + os.environ.get("PATH", "")


def _quiet_sqlalchemy() -> None:
    """nbgrader's gradebook code triggers SQLAlchemy autoflush warnings that say nothing to a user."""
    import warnings

    try:
        from sqlalchemy.exc import SAWarning
    except ImportError:  # pragma: no cover
        return
    warnings.filterwarnings("ignore", category=SAWarning)


def _gradebook(course: Course):
    from nbgrader.api import Gradebook

    _venv_bin_on_path()
    _quiet_sqlalchemy()
    config = load_config(course).CourseDirectory
    return Gradebook(config.db_url, config.course_id)


def nbgrader_api(course: Course):
    from nbgrader.apps import NbGraderAPI
    from nbgrader.coursedir import CourseDirectory

    course.root.mkdir(parents=True, exist_ok=True)
    _venv_bin_on_path()
    _quiet_sqlalchemy()
    config = load_config(course)
    coursedir = CourseDirectory(config=config)
    with _quiet_nbgrader():
        api = NbGraderAPI(coursedir=coursedir, config=config)
    api.log.setLevel(logging.ERROR)
    return api


_EXCEPTION_LINE = re.compile(r"^[\w.]*(Error|Exception|Exit)\b.*?: .+")


def _last_line(result: dict) -> str:
    """The most telling line of a failed nbgrader call: the exception raised first, else the log's end."""
    lines = [line.strip() for line in (result.get("log") or "").splitlines() if line.strip()]
    lines += [line.strip() for line in (result.get("error") or "").splitlines() if line.strip()]
    for line in lines:
        if _EXCEPTION_LINE.match(line) and "NbGraderException" not in line:
            return line
    return lines[-1] if lines else "unknown nbgrader error"


def _progress(items, desc: str):
    from tqdm.auto import tqdm

    return tqdm(items, desc=desc, unit="student", disable=len(items) < 2 or not sys.stderr.isatty(), leave=False)


# --------------------------------------------------------------------------------------------- release
def release(course: Course, assignments: list[str] | None = None) -> list[str]:
    """Generate the student version of each assignment into ``course.release`` (and the gradebook)."""
    assignments = assignments or course.assignments()
    if not assignments:
        raise CourseError(f"no assignments under {course.source}: add source/<assignment>/<notebook>.ipynb")
    for assignment in assignments:
        course.check_assignment(assignment)
        for notebook in (course.source / assignment).glob("*.ipynb"):
            _read_notebook(notebook)
    api = nbgrader_api(course)
    for assignment in assignments:
        with _quiet_nbgrader():
            result = api.generate_assignment(assignment, force=True, create=True)
        if not result["success"]:
            raise CourseError(f"could not release {assignment}: {_last_line(result)}")
    return assignments


def _read_notebook(path: Path):
    try:
        return nbformat.read(path, as_version=4)
    except Exception as err:  # nbformat raises several kinds for broken files
        raise CourseError(f"{path} is not a valid notebook ({type(err).__name__}); open it in Jupyter and save it again") from err


# ----------------------------------------------------------------------------------------------- grade
@dataclass
class GradeOutcome:
    """What happened to one submission: graded or not (``reason``), and what a human should look at."""

    student: str
    assignment: str
    ok: bool
    reason: str = ""
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0


# Error names the grading pipeline itself writes into cells, with how the report words them.
RUN_PROBLEMS = {"KernelDied": "kernel stopped", "CellTimeoutError": "cell timed out", "TamperError": "tamper guard",
                "stderr": "wrote to stderr (nbgrader scores such a test cell zero)"}
NOTES_FILE = "grading_notes.json"


def sandbox_overrides(course: Course, unsafe: bool = False) -> dict:
    """Config overrides and environment for grading in the sandbox (or, with ``unsafe``, without it)."""
    from .. import sandbox
    from ..data import splits

    if unsafe:
        return {"SandboxedExecute": {"kernel_name": "", "kernel_manager_class": "jupyter_client.manager.AsyncKernelManager"}}
    if sandbox.bwrap_path() is None:
        raise CourseError("bubblewrap is not installed, so student code would run with your rights: "
                          "`apt-get install bubblewrap` (make does it as root), or pass --unsafe")
    settings = load_config(course).Sandbox
    paths = os.environ.get("JUPYTER_PATH", "").split(os.pathsep)
    if str(sandbox.KERNELSPEC_ROOT) not in paths:
        os.environ["JUPYTER_PATH"] = os.pathsep.join([str(sandbox.KERNELSPEC_ROOT)] + [p for p in paths if p])
    os.environ[sandbox.MEMORY_ENV] = str(settings.get("memory_mb", sandbox.DEFAULT_MEMORY_MB))
    os.environ[sandbox.WALLTIME_ENV] = str(settings.get("walltime_s", sandbox.DEFAULT_WALLTIME_S))
    readonly = [str(p) for p in settings.get("readonly_paths", [])]
    features = splits.feature_cache_dir()
    if features.is_dir():  # jet features computed by the grader (warm_feature_cache): read, never written, by kernels
        os.environ["DL4PHYS_CACHE"] = str(splits.cache_root())
        readonly.append(str(features))
    os.environ[sandbox.READONLY_ENV] = os.pathsep.join(readonly)
    return {}


def _reads_jet_features(course: Course, assignment: str) -> bool:
    """Does the assignment compute jet features (N-subjettiness) in its notebooks?"""
    return any(name in path.read_text(errors="replace")
               for path in (course.source / assignment).glob("*.ipynb")
               for name in ("load_features(", "hidden_test_features("))


def grade(course: Course, assignment: str, students: list[str] | None = None, *, unsafe: bool = False,
          workers: int = 1, scheduler: str | None = None) -> list[GradeOutcome]:
    """Autograde the submissions of ``assignment`` (all students, or those given) in the sandbox.

    Every student is attempted and nothing a student submitted is modified. A notebook that is not
    valid JSON is graded zero with a note; kernel deaths, timeouts and tampering are noted too, and
    the notes are kept in ``grading_notes.json`` for the report.

    With ``workers > 1`` (a Dask ``LocalCluster``) or a ``scheduler`` address (an existing Dask
    cluster, e.g. from dask-jobqueue), students are graded in parallel, each against a private copy
    of the gradebook; this process alone writes their grades into the course gradebook.
    """
    course.check_assignment(assignment)
    students = students or course.students(assignment)
    if not students:
        raise CourseError(
            f"no submissions for {assignment}: put them in {course.submitted}/<student>/{assignment}/ "
            "(nbgrader collect does this)")
    sandbox_overrides(course, unsafe)  # fails early, here, when bubblewrap is missing
    if _reads_jet_features(course, assignment):
        from ..data import splits

        splits.warm_feature_cache()  # once per machine: the notebooks then read the features, not recompute them
    _ensure_in_gradebook(course, assignment)
    if workers <= 1 and scheduler is None:
        outcomes = [_grade_student(course, assignment, student, unsafe)
                    for student in _progress(students, f"grading {assignment}")]
    else:
        outcomes = _grade_in_parallel(course, assignment, students, unsafe, workers, scheduler)
    _save_notes(course, outcomes)
    return outcomes


def _grade_student(course: Course, assignment: str, student: str, unsafe: bool) -> GradeOutcome:
    """Autograde one submission into ``course``'s gradebook and note what a human should know."""
    import time

    from ..tamper import scan_submission

    started = time.perf_counter()
    course = replace(course, config_overrides=_merged(course.config_overrides, sandbox_overrides(course, unsafe)))
    problem = _submission_problem(course, assignment, student)
    if problem:
        outcome = _grade_repaired_copy(course, assignment, student, problem)
    else:
        with _quiet_nbgrader():
            result = nbgrader_api(course).autograde(assignment, student, force=True, create=True)
        outcome = GradeOutcome(student, assignment, result["success"], "" if result["success"] else _last_line(result))
    if outcome.ok:
        outcome.notes += _structure_problems(course, assignment, student) + _run_problems(course, assignment, student)
    outcome.notes += scan_submission(course.submitted / student / assignment)
    outcome.seconds = time.perf_counter() - started
    return outcome


# ------------------------------------------------------------------------------------ parallel grading
def _grade_in_private_gradebook(course: Course, assignment: str, student: str, unsafe: bool, template: str):
    """A Dask task: grade one student against a private copy of the gradebook, return outcome and grades."""
    import tempfile

    _share_gpus()
    with tempfile.TemporaryDirectory(prefix="dl4phys-grade-") as scratch:
        private_db = Path(scratch) / "gradebook.db"
        shutil.copyfile(template, private_db)
        private = replace(course, config_overrides=_merged(course.config_overrides,
                                                           {"CourseDirectory": {"db_url": f"sqlite:///{private_db}"}}))
        outcome = _grade_student(private, assignment, student, unsafe)
        grades = _export_grades(private, assignment, student) if outcome.ok else None
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
    import subprocess

    gpus = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True).stdout.count("GPU ")
    if gpus > 1:
        os.environ["CUDA_VISIBLE_DEVICES"] = str(index % gpus)


def _export_grades(course: Course, assignment: str, student: str) -> dict:
    """Everything autograding wrote about one submission, as plain data."""
    with _gradebook(course) as gb:
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


def _import_grades(course: Course, assignment: str, student: str, grades: dict) -> None:
    """Write one student's exported grades into the course gradebook (the coordinator's job)."""
    with _gradebook(course) as gb:
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


def _assignment_template(course: Course, assignment: str) -> Path:
    """A fresh SQLite gradebook holding just the assignment (whatever database the course uses)."""
    import tempfile

    from nbgrader.api import Gradebook

    folder = Path(tempfile.mkdtemp(prefix="dl4phys-template-", dir=course.root))
    template = folder / "gradebook.db"
    scratch = replace(course, root=folder, release=folder / "release", database=f"sqlite:///{template}")
    release(scratch, [assignment])
    with _gradebook(course) as gb:
        duedate = gb.find_assignment(assignment).duedate
    with Gradebook(f"sqlite:///{template}", load_config(course).CourseDirectory.course_id) as gb:
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
    with dask.config.set({f"distributed.nanny.pre-spawn-environ.{name}": threads
                          for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")}):
        return LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                            dashboard_address=":0", silence_logs=logging.CRITICAL)


def _grade_in_parallel(course: Course, assignment: str, students: list[str], unsafe: bool, workers: int,
                       scheduler: str | None) -> list[GradeOutcome]:
    from dask.distributed import Client, as_completed
    from tqdm.auto import tqdm

    template = _assignment_template(course, assignment)
    cluster = None if scheduler else local_cluster(workers)
    outcomes = []
    try:
        with Client(scheduler or cluster) as client:
            futures = [client.submit(_grade_in_private_gradebook, course, assignment, student, unsafe, str(template),
                                     key=f"grade-{assignment}-{student}", pure=False, retries=0)
                       for student in students]
            bar = tqdm(total=len(futures), desc=f"grading {assignment}", unit="student", leave=False,
                       disable=len(futures) < 2 or not sys.stderr.isatty())
            for future in as_completed(futures):
                try:
                    outcome, grades = future.result()
                except Exception as err:  # a worker lost: the student is reported, the others go on
                    student = future.key.split(f"grade-{assignment}-", 1)[1]
                    outcome, grades = GradeOutcome(student, assignment, False, f"worker failed: {err}"), None
                if grades is not None:
                    _import_grades(course, assignment, outcome.student, grades)
                outcomes.append(outcome)
                bar.update()
            bar.close()
    finally:
        if cluster is not None:
            cluster.close()
        shutil.rmtree(template.parent, ignore_errors=True)
    order = {s: i for i, s in enumerate(students)}
    return sorted(outcomes, key=lambda o: order[o.student])


def _merged(base: dict, extra: dict) -> dict:
    """Two nested config dicts merged, ``extra`` winning."""
    merged = {section: dict(values) for section, values in base.items()}
    for section, values in extra.items():
        merged.setdefault(section, {}).update(values)
    return merged


def _grade_repaired_copy(course: Course, assignment: str, student: str, problem: str) -> GradeOutcome:
    """Grade a repaired copy of a submission nbgrader would choke on; the student's files stay as they are.

    Unreadable notebooks are replaced by the release notebook (every test fails, so zero); of cells sharing a
    grade id, the last keeps it (as nbgrader's DeduplicateIds does) and the others become plain cells.
    """
    staging = course.root / ".staging" / student  # one per student: parallel workers must not collide
    folder = staging / student / assignment
    shutil.rmtree(staging, ignore_errors=True)
    shutil.copytree(course.submitted / student / assignment, folder)
    for path in folder.glob("*.ipynb"):
        try:
            notebook = nbformat.read(path, as_version=4)
        except Exception:
            # Graded as the untouched release notebook in its place: every test fails, so zero.
            shutil.copyfile(course.release / assignment / path.name, path)
            continue
        seen = set()
        for cell in reversed(notebook.cells):
            grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
            if grade_id in seen:
                del cell.metadata["nbgrader"]
            elif grade_id:
                seen.add(grade_id)
        nbformat.write(notebook, path)
    settings = _merged(course.config_overrides, {"CourseDirectory": {"submitted_directory": str(staging)}})
    try:
        with _quiet_nbgrader():
            result = nbgrader_api(replace(course, config_overrides=settings)).autograde(assignment, student, force=True, create=True)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    if not result["success"]:
        return GradeOutcome(student, assignment, False, f"{problem}; {_last_line(result)}")
    return GradeOutcome(student, assignment, True, notes=[problem])


def _structure_problems(course: Course, assignment: str, student: str) -> list[str]:
    """Changes to the notebook's graded structure, which nbgrader repairs from the source; one line each."""
    from nbgrader.api import MissingEntry

    notes = []
    with _gradebook(course) as gb:
        for name in course.notebooks(assignment):
            path = course.submitted / student / assignment / f"{name}.ipynb"
            try:
                cells = nbformat.read(path, as_version=4).cells
                reference = {c.name: c for c in gb.find_notebook(name, assignment).source_cells}
            except (OSError, MissingEntry, ValueError):
                continue
            seen: dict[str, int] = {}
            for cell in cells:
                grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
                if grade_id in reference:
                    seen[grade_id] = seen.get(grade_id, 0) + 1
                    source = reference[grade_id]
                    if cell.cell_type != source.cell_type:
                        notes.append(f"changed the type of cell {grade_id} (restored)")
                    elif source.locked and cell.source.strip() != source.source.strip() and not _is_hidden_variant(source.source, cell.source):
                        notes.append(f"edited read-only cell {grade_id} (restored)")
            notes += [f"deleted cell {g} (restored)" for g, c in reference.items() if c.locked and g not in seen]
    return notes


def _is_hidden_variant(source: str, submitted: str) -> bool:
    """The release shows a test cell without its hidden part; that difference is not an edit."""
    from ..preprocessors import HIDDEN_BLOCK

    return HIDDEN_BLOCK.sub("", source).strip() == submitted.strip()


def _run_problems(course: Course, assignment: str, student: str) -> list[str]:
    """Kernel deaths, timeouts and tamper-guard failures recorded in the autograded notebooks, one line each."""
    found: dict[str, tuple[str, list[str]]] = {}
    for path in sorted((course.autograded / student / assignment).glob("*.ipynb")):
        for cell in nbformat.read(path, as_version=4).cells:
            graded = cell.metadata.get("nbgrader", {}).get("grade", False)
            for output in cell.get("outputs", []):
                ename = output.get("ename") or ("stderr" if graded and output.get("name") == "stderr" else None)
                if ename in RUN_PROBLEMS:
                    message, cells = found.setdefault(ename, (output.get("evalue") or output.get("text", "")[:80].strip(), []))
                    cells.append(cell.metadata.get("nbgrader", {}).get("grade_id") or "an ungraded cell")
                    break
    return [f"{RUN_PROBLEMS[ename]} in {', '.join(cells[:3])}{' and later cells' if len(cells) > 3 else ''}: "
            + " ".join(message.split())[:200] for ename, (message, cells) in found.items()]


def _grading_log(course: Course) -> dict:
    path = course.root / NOTES_FILE
    return json.loads(path.read_text()) if path.exists() else {}


def _save_notes(course: Course, outcomes: list[GradeOutcome]) -> None:
    """Keep, per ``student/assignment``, the latest run's notes and grading time (for the report)."""
    log = _grading_log(course)
    for o in outcomes:
        log[f"{o.student}/{o.assignment}"] = {
            "notes": o.notes + ([f"not graded: {o.reason}"] if not o.ok else []),
            "seconds": round(o.seconds, 2),
        }
    (course.root / NOTES_FILE).write_text(json.dumps(log, indent=1, sort_keys=True) + "\n")


def grading_notes(course: Course) -> dict[str, list[str]]:
    """``student/assignment`` -> notes of the latest grading run (kernel deaths, timeouts, tamper flags)."""
    return {key: entry["notes"] for key, entry in _grading_log(course).items() if entry["notes"]}


def grading_times(course: Course) -> dict[str, float]:
    """``student/assignment`` -> seconds the latest grading of that submission took."""
    return {key: entry["seconds"] for key, entry in _grading_log(course).items()}


def _ensure_in_gradebook(course: Course, assignment: str) -> None:
    """Autograding needs the assignment's cells in the gradebook; releasing records them."""
    from nbgrader.api import MissingEntry

    with _gradebook(course) as gb:
        try:
            gb.find_assignment(assignment)
            return
        except MissingEntry:
            pass
    release(course, [assignment])


def _submission_problem(course: Course, assignment: str, student: str) -> str:
    """What in a submission nbgrader cannot grade as it is ('' when nothing)."""
    folder = course.submitted / student / assignment
    for name in course.notebooks(assignment):
        path = folder / f"{name}.ipynb"
        if not path.exists():
            continue  # nbgrader scores a missing notebook as zero
        try:
            notebook = nbformat.read(path, as_version=4)
        except Exception:
            return f"graded zero: {name}.ipynb is not a valid notebook (not JSON or not nbformat 4); ask the student to resubmit"
        ids = [c.metadata.get("nbgrader", {}).get("grade_id") for c in notebook.cells]
        duplicates = sorted({i for i in ids if i and ids.count(i) > 1})
        if duplicates:
            return f"duplicated cell {', '.join(duplicates)} (the last copy was graded)"
    return ""


# -------------------------------------------------------------------------------------------- feedback
def feedback(course: Course, assignment: str, students: list[str] | None = None) -> list[GradeOutcome]:
    """Write HTML feedback for every autograded submission of ``assignment``."""
    course.check_assignment(assignment)
    students = students or sorted(p.parent.name for p in course.autograded.glob(f"*/{assignment}") if p.is_dir())
    if not students:
        raise CourseError(f"nothing autograded for {assignment} yet: run `python -m dl4phys grade {assignment}` first")
    api = nbgrader_api(course)
    outcomes = []
    for student in _progress(students, f"feedback {assignment}"):
        with _quiet_nbgrader():
            result = api.generate_feedback(assignment, student, force=True)
        outcomes.append(GradeOutcome(student, assignment, result["success"], "" if result["success"] else _last_line(result)))
    return outcomes


# ---------------------------------------------------------------------------------------------- report
@dataclass(frozen=True)
class Score:
    student: str
    assignment: str
    auto_score: float
    max_auto_score: float
    manual_pending: bool


def scores(course: Course) -> list[Score]:
    """Autograded scores of every submission in the gradebook."""
    db_url = load_config(course).CourseDirectory.db_url
    if db_url.startswith("sqlite:///") and not Path(db_url[len("sqlite:///"):]).exists():
        raise CourseError(f"no gradebook at {db_url[len('sqlite:///'):]}: grade something first")
    rows = []
    with _gradebook(course) as gb:
        for assignment in gb.assignments:
            for submission in assignment.submissions:
                rows.append(Score(
                    student=submission.student.id,
                    assignment=assignment.name,
                    auto_score=float(submission.code_score),
                    max_auto_score=float(submission.max_code_score),
                    manual_pending=bool(submission.needs_manual_grade),
                ))
    return sorted(rows, key=lambda s: (s.student, s.assignment))


def write_grades_csv(rows: list[Score], path: Path) -> Path:
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["student", "assignment", "auto_score", "max_auto_score", "manual_grading_pending"])
        for row in rows:
            writer.writerow([row.student, row.assignment, f"{row.auto_score:g}", f"{row.max_auto_score:g}", row.manual_pending])
    return path


def score_table(rows: list[Score]) -> str:
    """A plain-text table, one row per student and one column per assignment (``score/max``)."""
    assignments = sorted({r.assignment for r in rows})
    students = sorted({r.student for r in rows})
    cell = {(r.student, r.assignment): f"{r.auto_score:g}/{r.max_auto_score:g}" + ("*" if r.manual_pending else "") for r in rows}
    header = ["student"] + assignments
    body = [[s] + [cell.get((s, a), "-") for a in assignments] for s in students]
    widths = [max(len(line[i]) for line in [header] + body) for i in range(len(header))]
    fmt = "  ".join(f"{{:<{w}}}" for w in widths)
    lines = [fmt.format(*header), fmt.format(*("-" * w for w in widths))] + [fmt.format(*line) for line in body]
    if any(r.manual_pending for r in rows):
        lines.append("* written answers still to be graded by hand (formgrader); scores are autograded points only")
    return "\n".join(lines)


def report(course: Course, html: bool = True) -> tuple[str, Path]:
    """The score table as text (with the grader's notes); writes grades.csv and report/index.html."""
    rows = scores(course)
    path = write_grades_csv(rows, course.root / "grades.csv")
    if html and rows:
        from ..report import write_html_report

        write_html_report(course, rows)
    table = score_table(rows)
    notes = grading_notes(course)
    if notes:
        table += "\n\nTo look at (scores are as graded; nothing here changed them):\n"
        table += "\n".join(f"  {key}: {note}" for key in sorted(notes) for note in notes[key])
    return table, path


# ------------------------------------------------------------------------------------------------ demo
def demo_cases(assignment: str) -> dict[str, Path]:
    """Demo submissions of an assignment: ``tests/submissions/<assignment>/<case>/`` folders."""
    folder = DEMO_SUBMISSIONS / assignment
    if not folder.is_dir():
        return {}
    return {p.name: p for p in sorted(folder.iterdir()) if p.is_dir()}


def expected_scores(assignment: str) -> dict[str, object]:
    path = DEMO_SUBMISSIONS / assignment / "expected_scores.json"
    return json.loads(path.read_text()) if path.exists() else {}


def submit_demo_cases(course: Course, assignment: str) -> list[str]:
    """Copy the demo submissions into ``course.submitted`` (student id = case name).

    Refuses to replace a submission that differs from the demo one, so a real student's work in the
    same course directory is never overwritten.
    """
    students = []
    for case, folder in demo_cases(assignment).items():
        dest = course.submitted / case / assignment
        dest.mkdir(parents=True, exist_ok=True)
        for src in folder.glob("*.ipynb"):
            target = dest / src.name
            if target.exists() and target.read_bytes() != src.read_bytes():
                raise CourseError(f"{target} exists and is not the demo submission; use another --course-dir for the demo")
            shutil.copyfile(src, target)
        students.append(case)
    return students


def demo(course: Course, assignments: list[str] | None = None, *, unsafe: bool = False,
         workers: int = 1) -> tuple[list[GradeOutcome], str, Path]:
    """Release every assignment, grade its demo submissions, write feedback and the report."""
    release(course, assignments or course.assignments())
    assignments = assignments or [a for a in course.assignments() if demo_cases(a)]
    outcomes = []
    for assignment in assignments:
        students = submit_demo_cases(course, assignment)
        if not students:
            continue
        outcomes += grade(course, assignment, students, unsafe=unsafe, workers=workers)
        graded = [o.student for o in outcomes if o.assignment == assignment and o.ok]
        if graded:
            outcomes += [o for o in feedback(course, assignment, graded) if not o.ok]
    table, csv_path = report(course)
    return outcomes, table, csv_path
