"""Where a course lives, how it is configured, and the thin layer over nbgrader's API.

A course is a folder (the instructor's private repository) holding ``source/`` (notebooks with
solutions and hidden tests), ``release/`` (the student versions), ``nbgrader_config.py`` (every
setting, read once per run) and the student data nbgrader keeps under its root: ``submitted/``,
``autograded/``, ``feedback/``, ``gradebook.db``. The course is found from the command line
(``--course-dir``) or the current folder, never from where this package is installed.
"""

from __future__ import annotations

import copy
import logging
import os
import re
import sys
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path

CONFIG_FILE = "nbgrader_config.py"


class CourseError(Exception):
    """A mistake the user can fix; the command line prints its message on one line."""


def merged(base: dict, extra: dict) -> dict:
    """Two nested config dicts (``{section: {trait: value}}``) merged, ``extra`` winning."""
    result = {section: dict(values) for section, values in base.items()}
    for section, values in extra.items():
        result.setdefault(section, {}).update(values)
    return result


@dataclass
class Course:
    """A course folder and where its parts are (each defaults to its place under ``root``).

    ``root`` is nbgrader's course root: ``submitted/<student>/<assignment>/``, ``autograded/``,
    ``feedback/``, ``gradebook.db``, ``grades.csv`` and ``report/`` live there. ``source``,
    ``release`` and ``config_file`` may live elsewhere (a scratch course graded from the instructor's
    repository); ``cases`` holds the demo submissions (``tests/submissions``).
    """

    root: Path
    source: Path | None = None
    release: Path | None = None
    config_file: Path | None = None
    cases: Path | None = None
    # SQLAlchemy URL of a gradebook on a database server (postgresql+psycopg2://grader@db.example.org/dl4phys);
    # None: c.CourseDirectory.db_url of nbgrader_config.py if set, else gradebook.db in ``root``.
    database: str | None = None
    overrides: dict = field(default_factory=dict, compare=False)
    _config: object = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self):
        self.root = Path(self.root).resolve()
        self.source = Path(self.source or self.root / "source").resolve()
        self.release = Path(self.release or self.root / "release").resolve()
        self.config_file = Path(self.config_file or self.root / CONFIG_FILE).resolve()
        self.cases = Path(self.cases or self.config_file.parent / "tests" / "submissions").resolve()

    @classmethod
    def at(cls, folder: str | os.PathLike | None = None, **kwargs) -> Course:
        """The course in ``folder`` (default: the current folder); CourseError if it is not one."""
        root = Path(folder or os.getcwd()).resolve()
        if not (root / "source").is_dir() and not (root / CONFIG_FILE).is_file() and "source" not in kwargs:
            raise CourseError(
                f"{root} is not a course folder (no source/ or {CONFIG_FILE}): run from the course's root or pass --course-dir"
            )
        return cls(root=root, **kwargs)

    def with_overrides(self, extra: dict) -> Course:
        """The same course with more config overrides (``{section: {trait: value}}``); the file is not read again."""
        course = replace(self, overrides=merged(self.overrides, extra))
        if self._config is not None:
            from traitlets.config import Config

            config = copy.deepcopy(self._config)
            config.merge(Config(extra))
            course._config = config
        return course

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
        return self.config.CourseDirectory.db_url

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
        """Students with a submission of ``assignment`` (nbgrader's own listing of ``submitted/``)."""
        if not self.submitted.is_dir():
            return []
        return sorted(nbgrader_api(self).get_submitted_students(assignment))

    @property
    def config(self):
        """The course's nbgrader configuration with its folders set, read once per Course."""
        if self._config is None:
            self._config = load_config(self)
        return self._config


def load_config(course: Course):
    """Read ``course.config_file`` (once) and point nbgrader's folders at ``course``."""
    from traitlets.config import Config
    from traitlets.config.loader import PyFileConfigLoader

    config = Config()
    if course.config_file.is_file():
        config = PyFileConfigLoader(course.config_file.name, path=str(course.config_file.parent)).load_config()
    # nbgrader joins these onto the root with os.path.join, so absolute paths are kept as they are.
    config.CourseDirectory.root = str(course.root)
    config.CourseDirectory.source_directory = str(course.source)
    config.CourseDirectory.release_directory = str(course.release)
    if course.database or "db_url" not in config.CourseDirectory:
        config.CourseDirectory.db_url = course.database or f"sqlite:///{course.gradebook_path}"
    config.merge(Config(course.overrides))
    return config


@contextmanager
def quiet_nbgrader():
    """nbgrader logs every step at INFO; keep the terminal for our own progress and errors."""
    logger = logging.getLogger("traitlets")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)


def venv_bin_on_path() -> None:
    """nbgrader runs the ``alembic`` script of its environment by name, so that bin/ must be on PATH."""
    bin_dir = str(Path(sys.executable).parent)
    if bin_dir not in os.environ.get("PATH", "").split(os.pathsep):
        os.environ["PATH"] = bin_dir + os.pathsep + os.environ.get("PATH", "")


def _quiet_sqlalchemy() -> None:
    """nbgrader's gradebook code triggers SQLAlchemy autoflush warnings that say nothing to a user."""
    import warnings

    from sqlalchemy.exc import SAWarning

    warnings.filterwarnings("ignore", category=SAWarning)


def gradebook(course: Course):
    """nbgrader's Gradebook of the course (a context manager)."""
    from nbgrader.api import Gradebook

    venv_bin_on_path()
    _quiet_sqlalchemy()
    return Gradebook(course.config.CourseDirectory.db_url, course.config.CourseDirectory.course_id)


def nbgrader_api(course: Course):
    """nbgrader's NbGraderAPI for the course."""
    from nbgrader.apps import NbGraderAPI
    from nbgrader.coursedir import CourseDirectory

    course.root.mkdir(parents=True, exist_ok=True)
    venv_bin_on_path()
    _quiet_sqlalchemy()
    coursedir = CourseDirectory(config=course.config)
    with quiet_nbgrader():
        api = NbGraderAPI(coursedir=coursedir, config=course.config)
    api.log.setLevel(logging.ERROR)
    return api


_EXCEPTION_LINE = re.compile(r"^[\w.]*(Error|Exception|Exit)\b.*?: .+")


def last_line(result: dict) -> str:
    """The most telling line of a failed nbgrader call: the exception raised first, else the log's end."""
    lines = [line.strip() for line in (result.get("log") or "").splitlines() if line.strip()]
    lines += [line.strip() for line in (result.get("error") or "").splitlines() if line.strip()]
    for line in lines:
        if _EXCEPTION_LINE.match(line) and "NbGraderException" not in line:
            return line
    return lines[-1] if lines else "unknown nbgrader error"


def progress(items, desc: str):
    """A progress bar on a terminal, nothing elsewhere."""
    from tqdm.auto import tqdm

    return tqdm(items, desc=desc, unit="student", disable=len(items) < 2 or not sys.stderr.isatty(), leave=False)


def read_notebook(path: Path):
    import nbformat

    try:
        return nbformat.read(path, as_version=4)
    except Exception as err:  # nbformat raises several kinds for broken files
        raise CourseError(f"{path} is not a valid notebook ({type(err).__name__}); open it in Jupyter and save it again") from err
