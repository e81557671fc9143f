"""``publish``: write the students' repository, and nothing of the instructor's into it.

Why: the course repository holds every solution and hidden test (``source/``), the hidden split, its
labels and its seed (``hidden_data/``), the demo and hostile submissions (``tests/``), the gradebook
and the grader. nbgrader courses keep all that private and give students only the releases, so the
repository students are sent to (the badges of the lecture table, the release notebooks' set-up cell)
is a second one, written by :func:`publish` from an allow-list:

* ``release/<assignment>/``: the release notebooks (``make release`` first);
* ``src/dl4phys/``: the student part of the course package (:data:`STUDENT_PACKAGE`): data loading of
  the shipped sample, ``check``, ``rel_error``; no grading, sandbox, judging or jet generation;
* ``README.md`` (from ``templates/student/``: the course, the lecture table with badges for the
  students' repository, set-up on a laptop and on each platform, checking and submitting),
  ``pyproject.toml``, ``requirements.txt`` and ``environment.yml`` without the instructor's packages
  (:data:`INSTRUCTOR_PACKAGES`), the course's ``LICENSE`` and a ``.gitignore``.

The students' repository is ``[tool.dl4phys] student_repository`` (and ``student_branch``) of the
course's ``pyproject.toml``; ``course_repository`` names the instructor's private one, which must
appear nowhere in it. Publishing into a clone of the students' repository replaces its files by the
new tree (every file there is written by publish) and commits once, naming the course's revision;
the tree depends only on the course, so publishing twice changes nothing. Before anything is written,
:func:`leaks` scans the tree, and publish refuses when it finds any of the instructor's material.
"""

from __future__ import annotations

import hashlib
import os
import re
import subprocess
import tomllib
from dataclasses import dataclass
from pathlib import Path

import nbformat

from .course import Course, CourseError
from .lectures import badge_table, release_notebooks, repository_setting

#: The student part of the course package, relative to the package's folder; nothing else of it is published.
STUDENT_PACKAGE = (
    "__init__.py",
    "__main__.py",
    "cli.py",
    "check.py",
    "checks.py",
    "data/__init__.py",
    "data/__main__.py",
    "data/_util.py",
    "data/features.py",
    "data/io.py",
    "data/pretrained.py",
    "data/reference.py",
    "data/splits.py",
    "data/sample/train.h5",
    "data/sample/valid.h5",
)
#: Pins of the course's requirements.txt that students never need (grading, the gradebook server, tests, jet generation).
INSTRUCTOR_PACKAGES = frozenset(
    {"nbgrader", "dask", "distributed", "psycopg2-binary", "pytest", "pytest-timeout", "hypothesis", "pythia8mc"}
)
#: Left out of the ``notebooks`` extra: hosted platforms ship their own builds (CUDA torch), and Jupyter.
PLATFORM_PACKAGES = frozenset({"torch", "torchvision", "numpy", "jupyterlab", "ipykernel", "nbformat", "nbclient"})
#: What the student package imports (lower bounds; the pins are requirements.txt).
STUDENT_DEPENDENCIES = (
    "torch",
    "numpy",
    "pandas",
    "tables",
    "tqdm",
    "platformdirs",
    "pooch",
    "vector",
    "fastjet",
    "awkward",
    "nbformat",
    "nbclient",
    "ipykernel",
)
#: The first line of the students' README: a folder with it is a students' repository publish may update.
MARKER = "<!-- Written by the course's `python -m dl4phys publish`: change the course and publish again, not this file. -->"
#: Names that are the instructor's wherever they appear in a path.
INSTRUCTOR_FOLDERS = frozenset(
    {
        "source",
        "tests",
        "hidden_data",
        "submitted",
        "autograded",
        "feedback",
        "demo",
        "report",
        "grading",
        "sandbox",
        "preprocessors",
        "judging",
    }
)
INSTRUCTOR_FILES = frozenset(
    {"nbgrader_config.py", "gradebook.db", "grades.csv", "generate.py", "plots.py", "grading_notes.json"}
)
NBGRADER_MARKER = re.compile(r"(BEGIN|END) (SOLUTION|HIDDEN TESTS)")
SECRET_BLOCK = re.compile(r"### BEGIN (SOLUTION|HIDDEN TESTS)\n(.*?)### END \1", re.S)
MIN_SECRET_LINE = 12  # shorter lines (``return x``, ``else:``) say nothing about a solution
#: Lines of a solution that the student package may also have: textbook formulas and Python idioms,
#: each looked at. A new overlap makes publish refuse until someone looks at it and adds it here.
SHARED_LINES = frozenset({"phi = np.arctan2(py, px)", "pt = np.hypot(px, py)", "except Exception:"})
MIN_COMPARED_BYTES = 64  # files this small (an empty __init__.py) are not compared with the instructor's


@dataclass(frozen=True)
class Settings:
    """``[tool.dl4phys]`` of the course's pyproject.toml: where the students' repository is, and the instructor's."""

    student_repo: str  # owner/name on GitHub
    student_branch: str
    course_repository: str  # the instructor's private repository ('' when not set)

    @property
    def student_url(self) -> str:
        return f"https://github.com/{self.student_repo}"


@dataclass
class Published:
    """What :func:`publish` did: files in the tree, and the commit it made in a clone (None: none)."""

    dest: Path
    files: int
    commit: str | None
    message: str


def settings(course: Course) -> Settings:
    pyproject = course.root / "pyproject.toml"
    try:
        repo, branch = repository_setting(pyproject)
        course_repository = tomllib.loads(pyproject.read_text())["tool"]["dl4phys"].get("course_repository", "")
    except (OSError, KeyError, ValueError) as err:
        raise CourseError(
            f'{pyproject}: [tool.dl4phys] needs student_repository = "https://github.com/OWNER/NAME" ({err})'
        ) from err
    found = Settings(repo, branch, course_repository.rstrip("/"))
    own = _url_pattern(found.course_repository)
    if own and own.search(found.student_url):
        raise CourseError(
            "[tool.dl4phys] student_repository and course_repository must be two repositories: the course's own stays private"
        )
    return found


# ------------------------------------------------------------------------------------------ the tree
def student_tree(course: Course) -> dict[str, bytes]:
    """Every file of the students' repository (path -> bytes), from the course's current state."""
    import dl4phys

    found = settings(course)
    tree: dict[str, bytes] = {}
    assignments = course.assignments()
    for assignment in assignments:
        folder = course.release / assignment
        if not any(folder.glob("*.ipynb")):
            raise CourseError(f"{assignment} has no release: run `make release` (python -m dl4phys release) first")
        for path in sorted(folder.rglob("*")):
            parts = path.relative_to(folder).parts
            if path.is_file() and not any(part in (".ipynb_checkpoints", "__pycache__") for part in parts):
                tree[f"release/{assignment}/{'/'.join(parts)}"] = path.read_bytes()
    notebooks = [(title, path) for title, path in release_notebooks(course.release) if path.split("/")[1] in assignments]
    package = Path(dl4phys.__file__).resolve().parent  # the package this course runs: its student part
    for name in STUDENT_PACKAGE:
        tree[f"src/dl4phys/{name}"] = (package / name).read_bytes()
    license_file = course.root / "LICENSE"
    if not license_file.is_file():
        raise CourseError(f"no {license_file}: the students' repository gets the course's LICENSE")
    tree["LICENSE"] = license_file.read_bytes()
    pins = student_pins(course.root / "requirements.txt")
    context = {
        "marker": MARKER,
        "table": badge_table(notebooks, found.student_repo, found.student_branch),
        "repository_url": found.student_url,
        "repository_name": found.student_repo.split("/")[1],
        "python": python_version(course.root / "environment.yml"),
        "version": dl4phys.__version__,
        "pins": pins,
        "dependencies": STUDENT_DEPENDENCIES,
        "notebook_pins": [p for p in pins if p.split("==")[0].lower() not in PLATFORM_PACKAGES],
    }
    for name in ("README.md", "pyproject.toml", "requirements.txt", "environment.yml"):
        tree[name] = _render(f"{name}.j2", context).encode()
    tree[".gitignore"] = _template_folder().joinpath("gitignore").read_bytes()
    return dict(sorted(tree.items()))


def _template_folder() -> Path:
    return Path(__file__).resolve().parent / "templates" / "student"


def _render(template: str, context: dict) -> str:
    import jinja2

    environment = jinja2.Environment(
        loader=jinja2.FileSystemLoader(_template_folder()), keep_trailing_newline=True, undefined=jinja2.StrictUndefined
    )
    return environment.get_template(template).render(**context)


def student_pins(requirements: Path) -> list[str]:
    """The ``name==version`` pins of the course's requirements.txt that students need, in its order."""
    pins = []
    for line in requirements.read_text().splitlines():
        pin = line.split("#")[0].strip()
        if pin and pin.split("==")[0].strip().lower() not in INSTRUCTOR_PACKAGES:
            pins.append(pin)
    return pins


def python_version(environment_yml: Path) -> str:
    """The ``python=X.Y`` of the course's environment.yml (3.11 when it names none)."""
    match = re.search(r"^\s*-\s*python\s*=\s*([\d.]+)", environment_yml.read_text(), re.M) if environment_yml.is_file() else None
    return match.group(1) if match else "3.11"


def folder_tree(folder: Path) -> dict[str, bytes]:
    """The files of a folder (path -> bytes), without ``.git``."""
    folder = Path(folder)
    return {
        p.relative_to(folder).as_posix(): p.read_bytes()
        for p in sorted(folder.rglob("*"))
        if p.is_file() and ".git" not in p.relative_to(folder).parts
    }


# ------------------------------------------------------------------------------------------ leaks
def secret_lines(course: Course) -> set[str]:
    """Lines (stripped) written between solution or hidden-test markers in ``source/`` that no release
    notebook has (not even inside a longer line), less :data:`SHARED_LINES`: any of them as a line of a
    published file is a leak."""

    def sources(paths):
        return "\n".join(cell.source for path in paths for cell in nbformat.read(path, as_version=4).cells)

    source = sources(sorted(course.source.glob("*/*.ipynb")))
    released = sources(sorted(course.release.glob("*/*.ipynb")))
    lines = {line.strip() for block in SECRET_BLOCK.finditer(source) for line in block.group(2).splitlines()}
    return {line for line in lines if len(line) > MIN_SECRET_LINE and line not in released and line not in SHARED_LINES}


def _url_pattern(url: str) -> re.Pattern | None:
    """A pattern that finds a repository URL in text, in its https, ssh and pip (git+) spellings."""
    url = url.strip().removesuffix("/").removesuffix(".git")
    if not url:
        return None
    github = re.fullmatch(r"(?:https?://|git@|ssh://git@)?github\.com[/:]([\w.-]+/[\w.-]+)", url)
    body = r"github\.com[/:]" + re.escape(github.group(1)) if github else re.escape(url)
    return re.compile(body + r"(?:\.git)?(?![\w.-])", re.I)


def instructor_urls(course: Course, found: Settings) -> list[str]:
    """The instructor's repository: ``course_repository`` and the course checkout's git remotes (not the students')."""
    urls = [found.course_repository] if found.course_repository else []
    remotes = subprocess.run(["git", "-C", str(course.root), "remote", "-v"], capture_output=True, text=True)
    urls += [line.split()[1] for line in remotes.stdout.splitlines() if len(line.split()) > 1]
    student = _url_pattern(found.student_url)
    return sorted({u for u in urls if not student.fullmatch(u.strip().removesuffix("/"))})


def _instructor_files(course: Course) -> dict[str, str]:
    """Digest -> path of every file of hidden_data/, tests/ and every gradebook of the course."""
    roots = [course.root / "hidden_data", course.config_file.parent / "tests", course.cases]
    files = [p for root in roots if root.is_dir() for p in root.rglob("*") if p.is_file()]
    files += [p for p in course.root.glob("*.db")] + [p for p in course.root.glob("*/gradebook.db")]
    return {hashlib.sha256(p.read_bytes()).hexdigest(): str(p) for p in files if p.stat().st_size >= MIN_COMPARED_BYTES}


def leaks(course: Course, tree: dict[str, bytes]) -> list[str]:
    """Everything of the instructor's in ``tree`` (path -> bytes), one line each; [] when nothing.

    Looks for the instructor's folders and files by name, nbgrader markers, any line of a solution or a
    hidden test of ``source/`` that ``release/`` does not have, copies of hidden_data/, tests/ or a
    gradebook (and any SQLite file), the instructor's repository URL, and the hidden split's seed.
    """
    from ..data.generate import HiddenSeedUnavailable, hidden_split_seed

    found = settings(course)
    secrets = secret_lines(course)
    instructors = _instructor_files(course)
    urls = [(url, _url_pattern(url)) for url in instructor_urls(course, found)]
    try:
        seed = re.compile(rb"(?<!\d)%d(?!\d)" % hidden_split_seed(course.root / "hidden_data"))
    except HiddenSeedUnavailable:
        seed = None
    problems = []
    for path, data in tree.items():
        parts = path.split("/")
        if INSTRUCTOR_FOLDERS.intersection(parts[:-1]) or parts[-1] in INSTRUCTOR_FILES:
            problems.append(f"{path}: an instructor's folder or file")
        if len(data) >= MIN_COMPARED_BYTES and hashlib.sha256(data).hexdigest() in instructors:
            problems.append(f"{path}: a copy of {instructors[hashlib.sha256(data).hexdigest()]}")
        if data.startswith(b"SQLite format 3"):
            problems.append(f"{path}: an SQLite database (a gradebook?)")
        if seed is not None and seed.search(data):
            problems.append(f"{path}: holds the hidden split's seed")
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            continue  # binary (the jet sample): checked above
        if path.endswith(".ipynb"):
            text += "\n" + "\n".join(cell.source for cell in nbformat.reads(text, as_version=4).cells)
        if NBGRADER_MARKER.search(text):
            problems.append(f"{path}: an nbgrader solution or hidden-test marker")
        # Whole lines, stripped: a short secret line ("return module") inside a longer one is no leak.
        leaked = sorted(secrets.intersection(line.strip() for line in text.splitlines()))
        if leaked:
            problems.append(f"{path}: {len(leaked)} line(s) of a solution or hidden test, e.g. {leaked[0][:60]!r}")
        problems += [f"{path}: the instructor's repository {url}" for url, pattern in urls if pattern.search(text)]
    return problems


# ------------------------------------------------------------------------------------------ publish
def _git(folder: Path, *args: str) -> str:
    result = subprocess.run(["git", "-C", str(folder), *args], capture_output=True, text=True)
    if result.returncode != 0:
        raise CourseError(f"git {args[0]} in {folder} failed: {(result.stderr.strip().splitlines() or ['?'])[-1]}")
    return result.stdout.strip()


def course_revision(course: Course) -> str:
    """The course checkout's commit (with ``-dirty`` for uncommitted changes), or ``unversioned``."""
    head = subprocess.run(["git", "-C", str(course.root), "rev-parse", "--short=12", "HEAD"], capture_output=True, text=True)
    if head.returncode != 0:
        return "unversioned"
    dirty = subprocess.run(
        ["git", "-C", str(course.root), "status", "--porcelain", "--untracked-files=no"], capture_output=True, text=True
    ).stdout.strip()
    return head.stdout.strip() + ("-dirty" if dirty else "")


def _check_destination(course: Course, dest: Path) -> bool:
    """Is ``dest`` a place publish may write: empty, or written by publish before (True: a git clone to commit in)?"""
    if dest == course.root or course.root in dest.parents or dest in course.root.parents:
        raise CourseError(
            f"{dest} is in or around the course folder: publish into a clone of the students' repository "
            "outside it, e.g. ../homework"
        )
    if dest.exists() and not dest.is_dir():
        raise CourseError(f"{dest} is a file: give an empty folder or a clone of the students' repository")
    entries = [p.name for p in dest.iterdir()] if dest.is_dir() else []
    clone = ".git" in entries
    if [e for e in entries if e != ".git"]:
        readme = dest / "README.md"
        if not readme.is_file() or not readme.read_text(errors="replace").startswith(MARKER):
            raise CourseError(
                f"{dest} is neither empty nor the students' repository (its README.md was not written "
                "by publish): give an empty folder or a clone of the students' repository"
            )
    if clone and _git(dest, "status", "--porcelain"):
        raise CourseError(f"{dest} has uncommitted changes: commit or discard them first (publish rewrites every file there)")
    return clone


def write_tree(tree: dict[str, bytes], dest: Path) -> None:
    """Make ``dest`` hold exactly ``tree`` (``.git`` aside): remove the files it does not have, write the others."""
    dest.mkdir(parents=True, exist_ok=True)
    for path in sorted(dest.rglob("*"), reverse=True):
        rel = path.relative_to(dest)
        if ".git" in rel.parts:
            continue
        if path.is_symlink() or path.is_file():
            if rel.as_posix() not in tree:
                path.unlink()
        elif path.is_dir() and not any(path.iterdir()):
            path.rmdir()
    for rel, data in tree.items():
        target = dest / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        if not target.is_file() or target.read_bytes() != data:
            target.write_bytes(data)
        os.chmod(target, 0o644)


def publish(course: Course, dest: str | os.PathLike) -> Published:
    """Write the students' repository into ``dest`` (an empty folder, or a clone of it or another folder
    publish wrote, updated in place); commit in a clone."""
    dest = Path(dest).resolve()
    clone = _check_destination(course, dest)
    tree = student_tree(course)
    problems = leaks(course, tree)
    if problems:
        raise CourseError(f"refusing to publish: {len(problems)} problem(s), first: {problems[0]}")
    write_tree(tree, dest)
    message = f"Publish the course at revision {course_revision(course)}"
    if not clone:
        return Published(dest, len(tree), None, message)
    _git(dest, "add", "--all")
    if not _git(dest, "status", "--porcelain"):
        return Published(dest, len(tree), None, message)
    identity = (
        []
        if subprocess.run(["git", "-C", str(dest), "config", "user.email"], capture_output=True).returncode == 0
        else ["-c", "user.name=dl4phys publish", "-c", "user.email=publish@dl4phys.invalid"]
    )
    subprocess.run(["git", "-C", str(dest), *identity, "commit", "--quiet", "-m", message], check=True, capture_output=True)
    return Published(dest, len(tree), _git(dest, "rev-parse", "--short=12", "HEAD"), message)
