"""Do the release notebooks work where students open them: hosted platforms and fresh machines?"""

from __future__ import annotations

import ast
import json
import shutil
import subprocess
import sys
import sysconfig
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import nbformat
import pytest

from dl4phys.grading import lectures

from .conftest import ASSIGNMENTS, perfect_notebook, selected_assignments
from .conftest import REPO as REPO_ROOT

RELEASE_NOTEBOOKS = sorted((REPO_ROOT / "release").glob("*/*.ipynb"))
HEADER = REPO_ROOT / "source" / "header.ipynb"


def _setup_source(path: Path) -> str:
    return next(c.source for c in nbformat.read(path, as_version=4).cells if c.cell_type == "code")


def test_readme_lecture_table_is_up_to_date():
    """Does the README's table list every release notebook with its badges (run `python -m dl4phys readme-table`)?"""
    assert lectures.update_readme(REPO_ROOT, check=True), "stale: run `python -m dl4phys readme-table` and commit README.md"
    table = lectures.lecture_table(REPO_ROOT)
    repo, branch = lectures.repository_setting(REPO_ROOT / "pyproject.toml")
    for path in RELEASE_NOTEBOOKS:
        rel = path.relative_to(REPO_ROOT).as_posix()
        assert lectures.notebook_title(path) in table
        assert f"https://colab.research.google.com/github/{repo}/blob/{branch}/{rel}" in table
        assert table.count(rel) == len(lectures.PLATFORMS)


def test_setup_cell_points_to_the_repository_setting():
    """Does the set-up cell install from the students' repository and branch that pyproject.toml names?"""
    repo, branch = lectures.repository_setting(REPO_ROOT / "pyproject.toml")
    assert f'COURSE_REPOSITORY = "https://github.com/{repo}"' in _setup_source(HEADER)
    assert f"git+{{COURSE_REPOSITORY}}@{branch}" in _setup_source(HEADER)


@pytest.mark.parametrize("path", RELEASE_NOTEBOOKS, ids=lambda p: p.parent.name)
def test_release_notebook_starts_with_the_setup_cell(path):
    """Is the first code cell of every release notebook the set-up cell of source/header.ipynb?"""
    assert _setup_source(path) == _setup_source(HEADER)


@pytest.fixture(scope="module")
def student_wheels(published, tmp_path_factory) -> Path:
    """The student package as a wheel built from the students' repository alone, offline: a local 'package
    index' for the set-up cell. (Built from a copy: building writes into the source folder.)"""
    work = tmp_path_factory.mktemp("student-build")
    shutil.copytree(published, work / "homework")
    build = ["wheel", "--quiet", "--no-deps", "--no-build-isolation", "--no-index"]
    subprocess.run([sys.executable, "-m", "pip", *build, "--wheel-dir", str(work / "wheels"), str(work / "homework")], check=True)
    return work / "wheels"


def _fresh_environment(tmp_path: Path) -> tuple[Path, dict]:
    """A new virtual environment without dl4phys (its python and environment variables). The heavy
    dependencies (torch, fastai, ...) come from the course venv through a .pth path entry, as a hosted
    platform has them preinstalled; the course package itself does not."""
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    python = venv / "bin" / "python"
    site = Path(
        subprocess.run(
            [python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    )
    deps = tmp_path / "deps"  # the course venv's packages, less the course package's own install records
    deps.mkdir()
    for entry in Path(sysconfig.get_paths()["purelib"]).iterdir():
        if not entry.name.startswith(("dl4phys", "__editable__")):
            (deps / entry.name).symlink_to(entry)
    (site / "course_deps.pth").write_text(f"{deps}\n")
    # A new venv brings an old setuptools that would shadow the one torch requires.
    for stale in [*site.glob("setuptools*"), *site.glob("_distutils_hack"), *site.glob("distutils-precedence.pth")]:
        shutil.rmtree(stale) if stale.is_dir() else stale.unlink()
    env = {
        "PATH": f"{venv / 'bin'}:/usr/bin:/bin",
        "HOME": str(tmp_path),
        "PIP_DISABLE_PIP_VERSION_CHECK": "1",
        "PIP_NO_INDEX": "1",
    }
    return python, env


#: Run in the fresh environment: every ``from dl4phys... import name`` of the release notebooks resolved,
#: and the data helpers they use called as a student's notebook calls them.
USES_SCRIPT = """
import importlib, json, sys
imports = json.loads(sys.argv[1])
missing = [f"{module}.{name}" for module, names in imports.items() for name in names
           if not hasattr(importlib.import_module(module), name)]
from dl4phys.checks import rel_error
from dl4phys.data import hidden_test_features, load_constituents
from dl4phys.data.io import HiddenDataUnavailable
from dl4phys.data.pretrained import resnet18_weights
jets, labels = load_constituents("valid")
try:
    hidden_test_features()
    hidden = "readable"
except HiddenDataUnavailable as err:
    hidden = str(err)
print(json.dumps({"missing": missing, "rel_error": float(rel_error(1.0, 1.0)), "jets": list(jets.shape),
                  "dtype": str(jets.dtype), "labels": sorted(set(labels.tolist())),
                  "weights": resnet18_weights(download=False), "hidden": hidden}))
"""


def release_imports(release: Path) -> dict[str, list[str]]:
    """``module -> names`` of every ``from dl4phys... import ...`` in the code cells of the notebooks under ``release``."""
    imports: dict[str, set[str]] = {}
    for path in sorted(release.glob("*/*.ipynb")):
        for cell in nbformat.read(path, as_version=4).cells:
            if cell.cell_type != "code":
                continue
            code = "\n".join(line for line in cell.source.splitlines() if not line.lstrip().startswith(("%", "!")))
            for node in ast.walk(ast.parse(code)):
                if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("dl4phys"):
                    imports.setdefault(node.module, set()).update(alias.name for alias in node.names)
                elif isinstance(node, ast.Import):
                    for alias in node.names:
                        if alias.name.startswith("dl4phys"):
                            imports.setdefault(alias.name, set())
    return {module: sorted(names) for module, names in imports.items()}


@dataclass
class StudentEnvironment:
    """A fresh environment set up from the students' repository, and the checks running in it."""

    python: Path
    before: str  # whether dl4phys was importable before the set-up cell ("True": it was not)
    setups: list[subprocess.CompletedProcess]  # each release notebook's set-up cell, in order
    loaded: subprocess.CompletedProcess  # the shipped sample loaded, the grader looked for
    uses: subprocess.CompletedProcess  # the release notebooks' imports and data helpers (USES_SCRIPT)
    imports: dict[str, list[str]]  # what USES_SCRIPT was given to resolve
    checks: dict[str, Future]  # assignment -> (result of `check` on its perfect submission, seconds)


@pytest.fixture(scope="module")
def student_environment(request, published, student_wheels, tmp_path_factory):
    """In a fresh environment, offline, with only the students' repository: every release notebook's
    set-up cell run in turn (the first installs the package from a wheel built from that repository),
    then `python -m dl4phys check` on the perfect submission of each assignment whose check test is
    selected, two notebooks at a time, started at once so they run while the tests wait."""
    tmp = tmp_path_factory.mktemp("student")
    python, env = _fresh_environment(tmp)
    env["DL4PHYS_INSTALL_FROM"] = str(student_wheels)
    probe = "import importlib.util; print(importlib.util.find_spec('dl4phys') is None)"
    before = subprocess.run([python, "-c", probe], cwd=tmp, env=env, capture_output=True, text=True).stdout.strip()
    setups = [
        subprocess.run([python, "-c", _setup_source(path)], cwd=tmp, env=env, capture_output=True, text=True)
        for path in sorted((published / "release").glob("*/*.ipynb"))
    ]

    def run_check(assignment: str):
        notebook = perfect_notebook(assignment, tmp / "work" / assignment)
        started = time.monotonic()
        result = subprocess.run(
            [python, "-m", "dl4phys", "check", notebook.name],
            cwd=notebook.parent,
            env={**env, "OMP_NUM_THREADS": "1"},
            capture_output=True,
            text=True,
            timeout=1800,
        )
        return result, time.monotonic() - started

    selected = selected_assignments(request.session, "test_check_passes_the_perfect_submission_in_a_students_environment")
    with ThreadPoolExecutor(max_workers=2) as pool:  # at most two notebooks at a time
        checks = {a: pool.submit(run_check, a) for a in selected}
        # The shipped sample loads (its features are then cached for the checks); the grader is absent.
        code = (
            "import importlib.util, json, dl4phys, dl4phys.data as data; df = data.load_features('train'); "
            "data.load_features('valid'); print(json.dumps({'file': dl4phys.__file__, 'rows': len(df), "
            "'labels': sorted(set(df['label'])), 'absent': [m for m in ('dl4phys.grading', 'dl4phys.sandbox', "
            "'dl4phys.judging', 'dl4phys.data.generate') if importlib.util.find_spec(m) is None]}))"
        )
        loaded = subprocess.run([python, "-c", code], cwd=tmp, env=env, capture_output=True, text=True)
        imports = release_imports(published / "release")
        uses = subprocess.run([python, "-c", USES_SCRIPT, json.dumps(imports)], cwd=tmp, env=env, capture_output=True, text=True)
        yield StudentEnvironment(python, before, setups, loaded, uses, imports, checks)
        for future in checks.values():
            future.cancel()


@pytest.mark.slow
def test_setup_cells_install_the_student_package_from_the_students_repository(student_environment, tmp_path):
    """Does the set-up cell install, offline, the student package built from the students' repository alone
    into a fresh environment (the other notebooks' set-up cells then doing nothing), with the shipped
    sample and without the grader?"""
    assert student_environment.before == "True", "dl4phys must not be importable before the set-up cell"
    first, *others = student_environment.setups
    assert first.returncode == 0, first.stderr[-2000:]
    assert "Installed." in first.stdout
    for again in others:
        assert again.returncode == 0 and again.stdout == "", "once installed, the set-up cell does nothing"
    loaded = student_environment.loaded
    assert loaded.returncode == 0, loaded.stderr[-2000:]
    info = json.loads(loaded.stdout.strip().splitlines()[-1])
    assert info["file"].startswith(str(student_environment.python.parent.parent)), "dl4phys must come from the fresh environment"
    assert info["rows"] > 1000 and info["labels"] == [0, 1]
    assert info["absent"] == ["dl4phys.grading", "dl4phys.sandbox", "dl4phys.judging", "dl4phys.data.generate"]


@pytest.mark.slow
def test_every_name_the_releases_import_works_in_a_students_environment(student_environment):
    """In that environment, does every name the release notebooks import from dl4phys exist, do the data
    helpers they call work on the shipped sample, and does the hidden split say where it lives?"""
    assert "dl4phys.data" in student_environment.imports and "dl4phys.checks" in student_environment.imports
    uses = student_environment.uses
    assert uses.returncode == 0, uses.stderr[-2000:]
    info = json.loads(uses.stdout.strip().splitlines()[-1])
    assert info["missing"] == [], f"names the releases import that the student package lacks: {info['missing']}"
    assert info["rel_error"] == 0.0
    assert info["jets"][1:] == [200, 4] and info["jets"][0] > 1000 and info["dtype"] == "float32" and info["labels"] == [0, 1]
    assert info["weights"] is None, "offline and with an empty cache, the ResNet starts from random weights"
    assert "only available where the instructor grades" in info["hidden"]


@pytest.mark.slow
@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_check_passes_the_perfect_submission_in_a_students_environment(student_environment, assignment):
    """In that environment, does `python -m dl4phys check` find every visible test of the assignment's
    perfect submission passing (as a student runs it, without the hidden split)?"""
    assert student_environment.setups[0].returncode == 0, "the student package did not install (see the set-up test)"
    result, seconds = student_environment.checks[assignment].result()
    print(f"{assignment}: check took {seconds:.0f} s")
    assert result.returncode == 0 and "every visible test passes" in result.stdout, (result.stdout + result.stderr)[-2000:]
