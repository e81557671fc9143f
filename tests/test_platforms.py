"""Do the release notebooks work where students open them: hosted platforms and fresh machines?"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import nbformat
import pytest

from dl4phys.grading import lectures

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
    """Does the set-up cell install from the students' repository that pyproject.toml names?"""
    repo, _ = lectures.repository_setting(REPO_ROOT / "pyproject.toml")
    assert f'COURSE_REPOSITORY = "https://github.com/{repo}"' in _setup_source(HEADER)


@pytest.mark.parametrize("path", RELEASE_NOTEBOOKS, ids=lambda p: p.parent.name)
def test_release_notebook_starts_with_the_setup_cell(path):
    """Is the first code cell of every release notebook the set-up cell of source/header.ipynb?"""
    assert _setup_source(path) == _setup_source(HEADER)


@pytest.fixture(scope="module")
def wheel_folder(tmp_path_factory) -> Path:
    """The course package built as a wheel, as a local 'package index' (no internet needed)."""
    folder = tmp_path_factory.mktemp("wheels")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation",
                    "--wheel-dir", str(folder), str(REPO_ROOT)], check=True)
    return folder


@pytest.mark.slow
@pytest.mark.parametrize("path", RELEASE_NOTEBOOKS, ids=lambda p: p.parent.name)
def test_setup_cell_installs_the_package_in_a_fresh_environment(path, wheel_folder, tmp_path):
    """In a fresh virtual environment without dl4phys, does the set-up cell install it so the notebook imports it and loads its data?"""
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    python = venv / "bin" / "python"
    # The heavy dependencies (torch, fastai, ...) come from the course venv through a .pth path entry;
    # the course package itself does not (its editable-install hook is not processed that way).
    site = Path(subprocess.run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                               capture_output=True, text=True, check=True).stdout.strip())
    deps = tmp_path / "deps"  # the course venv's packages, less the course package's own install records
    deps.mkdir()
    for entry in Path(sysconfig.get_paths()["purelib"]).iterdir():
        if not entry.name.startswith(("dl4phys", "__editable__")):
            (deps / entry.name).symlink_to(entry)
    (site / "course_deps.pth").write_text(f"{deps}\n")
    # A new venv brings an old setuptools that would shadow the one torch requires.
    for stale in [*site.glob("setuptools*"), *site.glob("_distutils_hack"), *site.glob("distutils-precedence.pth")]:
        shutil.rmtree(stale) if stale.is_dir() else stale.unlink()
    env = {"PATH": f"{venv / 'bin'}:/usr/bin:/bin", "HOME": str(tmp_path), "DL4PHYS_INSTALL_FROM": str(wheel_folder),
           "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
    probe = "import importlib.util; print(importlib.util.find_spec('dl4phys') is None)"
    assert subprocess.run([python, "-c", probe], cwd=tmp_path, env=env, capture_output=True, text=True).stdout.strip() == "True"

    setup = subprocess.run([python, "-c", _setup_source(path)], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert setup.returncode == 0, setup.stderr[-2000:]
    assert "Installed." in setup.stdout

    check = ("import json, dl4phys, dl4phys.data as data; df = data.load_features('train'); "
             "print(json.dumps({'file': dl4phys.__file__, 'rows': len(df), 'labels': sorted(set(df['label']))}))")
    loaded = subprocess.run([python, "-c", check], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert loaded.returncode == 0, loaded.stderr[-2000:]
    info = json.loads(loaded.stdout.strip().splitlines()[-1])
    assert info["file"].startswith(str(venv)), "dl4phys must come from the fresh environment"
    assert info["rows"] > 1000 and info["labels"] == [0, 1]

    again = subprocess.run([python, "-c", _setup_source(path)], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert again.returncode == 0 and again.stdout == "", "once installed, the set-up cell does nothing"
