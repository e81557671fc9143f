"""Is release/ what students should get: in sync with source/, and free of solutions and hidden tests?"""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest

from dl4phys import grading

from .conftest import ASSIGNMENTS, REPO, SOURCE, scratch_course

MARKERS = re.compile(r"(BEGIN|END) (SOLUTION|HIDDEN TESTS)")
BLOCK = re.compile(r"### BEGIN (SOLUTION|HIDDEN TESTS)\n(.*?)### END \1", re.S)


def _cells(path: Path) -> list[tuple[str, str, dict]]:
    notebook = nbformat.read(path, as_version=4)
    return [(c.cell_type, c.source, c.metadata.get("nbgrader", {})) for c in notebook.cells]


@pytest.fixture(scope="module")
def fresh_release(tmp_path_factory) -> Path:
    """A fresh `generate_assignment` of every source notebook, made in a scratch course."""
    course = scratch_course(tmp_path_factory.mktemp("fresh_release"))
    grading.release(course)
    return course.release


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_release_is_in_sync_with_source(fresh_release, assignment):
    """Does the committed release equal a fresh release of source/ (cell sources and nbgrader metadata)?"""
    committed = REPO / "release" / assignment
    committed_files = sorted(p.name for p in committed.iterdir())
    fresh_files = sorted(p.name for p in (fresh_release / assignment).iterdir())
    assert committed_files == fresh_files, "run `make release` and commit release/"
    for name in fresh_files:
        if name.endswith(".ipynb"):
            assert _cells(committed / name) == _cells(fresh_release / assignment / name), (
                f"release/{assignment}/{name} is stale: run `make release` and commit it"
            )


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_release_contains_no_solution_or_hidden_test(assignment):
    """Is every line written between solution or hidden-test markers in source/ absent from release/?"""
    source_text = "\n".join(s for path in sorted((SOURCE / assignment).glob("*.ipynb")) for _, s, _ in _cells(path))
    secret_lines = {line.strip() for block in BLOCK.finditer(source_text) for line in block.group(2).splitlines()}
    outside = BLOCK.sub("", source_text)
    # Lines that also stand outside the blocks (a bare `return`, a shared import) are not secrets.
    secret_lines = {line for line in secret_lines if len(line) > 12 and line not in outside}
    assert secret_lines, "the source notebook should have solutions and hidden tests"
    for path in (REPO / "release" / assignment).rglob("*"):
        if path.is_file():
            text = path.read_text(errors="replace")
            assert not MARKERS.search(text), f"{path} contains an nbgrader marker"
            if path.suffix == ".ipynb":
                text = "\n".join(s for _, s, _ in _cells(path))
            leaked = [line for line in secret_lines if line in text]
            assert not leaked, f"{path} leaks {leaked[:3]}"


def test_release_folder_holds_only_released_assignments():
    """Does release/ hold one folder per source assignment and nothing else (no data, no gradebook)?"""
    release = REPO / "release"
    assert sorted(p.name for p in release.iterdir()) == ASSIGNMENTS
    for path in release.rglob("*"):
        assert path.suffix in {".ipynb", ""} or path.is_dir(), f"unexpected file in release/: {path}"


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_every_intro_states_the_graders_limits_and_its_lecture(assignment):
    """Does each release intro state the grader's time limits next to the measured run time, and name its lecture or reading?"""
    intro = nbformat.read(next((REPO / "release" / assignment).glob("*.ipynb")), as_version=4).cells[1].source
    assert "longer than 5 minutes" in intro and "30 minutes in all" in intro
    assert "lewtun/dl4phys/blob/main/lecture0" in intro or "reading" in intro.lower() or "arXiv" in intro
    assert re.search(r"\d+ (s|min)", intro), "state the measured run time"
