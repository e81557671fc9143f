"""Does grading survive broken and hostile submissions, and keep everyone else's grades intact?

Each case is a sample notebook in ``tests/hostile/<case>/`` (a perfect hw02 submission with one thing
done to it) with its expected score and report note in ``tests/hostile/expected.json``. All cases
are graded in one run beside well-behaved students, through the same ``grade`` path as ``make demo``,
and the well-behaved students are graded again alone to prove their gradebook is unaffected.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import socket
import threading
from pathlib import Path

import nbformat
import pytest

from dl4phys import grading, sandbox

from .conftest import submit_notebooks

pytestmark = [pytest.mark.grading, pytest.mark.slow,
              pytest.mark.skipif(sandbox.bwrap_path() is None, reason="bubblewrap is not installed")]

ASSIGNMENT = "hw02_gradient_descent"
HOSTILE = Path(__file__).parent / "hostile"
EXPECTED = json.loads((HOSTILE / "expected.json").read_text())
WELL_BEHAVED = ["perfect", "blank", "partial", "alternative-correct"]
NETWORK_PORT = 47819  # the uses-network notebook tries to reach this port on 127.0.0.1
# Short limits so the infinite loop and the memory bomb cost seconds, not the course's minutes.
LIMITS = {"Execute": {"timeout": 20}, "Sandbox": {"memory_mb": 2500, "walltime_s": 600}}


def _digest(root: Path, skip: set[Path]) -> dict[str, str]:
    """Checksums of every file under ``root`` except those inside ``skip`` folders."""
    digests = {}
    for path in sorted(root.rglob("*")):
        if path.is_file() and not any(s in path.parents for s in skip):
            digests[str(path.relative_to(root))] = hashlib.sha256(path.read_bytes()).hexdigest()
    return digests


class _Listener:
    """A TCP server on 127.0.0.1 that records whether anything connected."""

    def __init__(self, port: int):
        self.connections = 0
        self.server = socket.create_server(("127.0.0.1", port))
        self.server.settimeout(0.5)
        self.running = True
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        while self.running:
            try:
                conn, _ = self.server.accept()
                self.connections += 1
                conn.close()
            except OSError:
                pass

    def close(self):
        self.running = False
        self.thread.join()
        self.server.close()


def _course(root: Path) -> grading.Course:
    return grading.Course(root=root, release=root / "release", config_overrides=LIMITS)


@pytest.fixture(scope="module")
def hostile_run(tmp_path_factory):
    course = _course(tmp_path_factory.mktemp("hostile"))
    grading.release(course, [ASSIGNMENT])
    for student in WELL_BEHAVED:
        submit_notebooks(course, student, ASSIGNMENT, grading.DEMO_SUBMISSIONS / ASSIGNMENT / student)
    for case in EXPECTED:
        submit_notebooks(course, case, ASSIGNMENT, HOSTILE / case)
    hostile_folders = {course.root / step / case for step in ("submitted", "autograded") for case in EXPECTED}
    # Everything outside the hostile students' folders, and the instructor's source, must stay as it is;
    # the gradebook and notes are the grader's own outputs, compared separately.
    before = _digest(course.root, hostile_folders | {course.autograded})
    submitted_before = _digest(course.submitted, set())
    source_before = _digest(grading.REPO_ROOT / "source", set())
    listener = _Listener(NETWORK_PORT)
    try:
        outcomes = grading.grade(course, ASSIGNMENT, WELL_BEHAVED + list(EXPECTED))
    finally:
        listener.close()
    after = _digest(course.root, hostile_folders | {course.autograded})
    for name in ("gradebook.db", grading.NOTES_FILE):
        before.pop(name, None), after.pop(name, None)
    return {
        "course": course, "outcomes": {o.student: o for o in outcomes}, "connections": listener.connections,
        "outside_changed": sorted(set(before.items()) ^ set(after.items())),
        "submitted_changed": _digest(course.submitted, set()) != submitted_before,
        "source_changed": _digest(grading.REPO_ROOT / "source", set()) != source_before,
    }


def _score(course, student):
    return next((r.auto_score for r in grading.scores(course) if r.student == student), None)


@pytest.mark.parametrize("case", sorted(EXPECTED))
def test_hostile_case_gets_deterministic_score_and_a_note(hostile_run, case):
    """Is each broken or hostile case graded, with its expected score and a one-line note in the report?"""
    outcome = hostile_run["outcomes"][case]
    assert outcome.ok, outcome.reason
    assert _score(hostile_run["course"], case) == EXPECTED[case]["score"], outcome.notes
    table, _ = grading.report(hostile_run["course"])
    if EXPECTED[case]["note"]:
        notes = grading.grading_notes(hostile_run["course"])[f"{case}/{ASSIGNMENT}"]
        assert any(EXPECTED[case]["note"] in note for note in notes), notes
        assert all("\n" not in note for note in notes)
        assert f"{case}/{ASSIGNMENT}: " in table


def test_nothing_outside_the_students_folders_changed(hostile_run):
    """Did no hostile notebook change a file outside its own folders, the submissions, or source/?"""
    assert hostile_run["outside_changed"] == []
    assert not hostile_run["submitted_changed"], "submitted notebooks must never be modified"
    assert not hostile_run["source_changed"]


def test_no_hidden_test_was_read_and_no_network_reached(hostile_run):
    """Did the reads-source, writes-gradebook and uses-network notebooks find nothing to reach?"""
    course = hostile_run["course"]
    printed = ""
    for case in ("reads-source", "writes-gradebook", "uses-network"):
        notebook = nbformat.read(next((course.autograded / case / ASSIGNMENT).glob("*.ipynb")), as_version=4)
        printed += "".join(o.get("text", "") for c in notebook.cells if c.cell_type == "code" for o in c.get("outputs", []))
    assert "nothing found" in printed and "no network" in printed  # the notebooks did run
    for marker in ("LEAKED", "TAMPERED", "NETWORK"):
        assert marker not in printed
    assert hostile_run["connections"] == 0
    # Files "planted" in .. land in the sandbox's private /tmp, never in the course.
    assert not list(course.root.rglob("planted.txt"))


def test_well_behaved_gradebook_is_the_same_without_the_hostile_students(hostile_run, tmp_path):
    """Do the well-behaved students get exactly the same grades, cell by cell, when graded alone?"""
    alone = _course(tmp_path)
    grading.release(alone, [ASSIGNMENT])
    for student in WELL_BEHAVED:
        submit_notebooks(alone, student, ASSIGNMENT, grading.DEMO_SUBMISSIONS / ASSIGNMENT / student)
    grading.grade(alone, ASSIGNMENT, WELL_BEHAVED)
    assert _cell_grades(alone, WELL_BEHAVED) == _cell_grades(hostile_run["course"], WELL_BEHAVED)


def _cell_grades(course, students):
    with grading._gradebook(course) as gb:
        return {(s, g.name): (g.auto_score, g.max_score)
                for s in students
                for nb in gb.find_submission(ASSIGNMENT, s).notebooks for g in nb.grades}


def test_grade_refuses_without_bubblewrap_unless_unsafe(tmp_path, monkeypatch):
    """Without bubblewrap, does grade refuse with a one-line reason, and run with --unsafe?"""
    monkeypatch.setattr(sandbox, "bwrap_path", lambda: None)
    course = grading.Course(root=tmp_path, release=tmp_path / "release")
    submit_notebooks(course, "blank", ASSIGNMENT, grading.DEMO_SUBMISSIONS / ASSIGNMENT / "blank")
    with pytest.raises(grading.CourseError, match="bubblewrap is not installed.*--unsafe"):
        grading.grade(course, ASSIGNMENT)
    outcomes = grading.grade(course, ASSIGNMENT, unsafe=True)
    assert outcomes[0].ok and _score(course, "blank") == 0


def test_tamper_scan_flags_cheats_but_not_the_course_set_up_cell(tmp_path):
    """Does the static scan flag replaced torch functions and paths outside the submission, but not the release's own set-up cell?"""
    import nbformat

    from dl4phys.tamper import scan_notebook, scan_source

    assert scan_source("import torch\ntorch.allclose = lambda *a, **k: True") == ["replaces torch.allclose"]
    assert scan_source("open('../../source/hw.ipynb').read()") == ["names the path '../../source/hw.ipynb' outside the submission"]
    assert scan_source("x = [1, 2]\nprint('a/b'.split('/'))\ntorch.manual_seed(0)") == []
    release = next((grading.REPO_ROOT / "release" / ASSIGNMENT).glob("*.ipynb"))
    assert scan_notebook(release) == []
    notebook = nbformat.read(release, as_version=4)
    notebook.cells.append(nbformat.v4.new_code_cell("import numpy as np\nnp.testing.assert_allclose = print"))
    nbformat.write(notebook, tmp_path / "nb.ipynb")
    assert scan_notebook(tmp_path / "nb.ipynb") == ["cell: replaces np.testing.assert_allclose"]
