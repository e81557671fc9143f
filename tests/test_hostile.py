"""Does grading survive broken and hostile submissions, and keep everyone else's grades and files intact?

Each case is a patch file in ``tests/hostile/<case>.toml`` (a hw02 submission with one thing done to
it, built from the current release), with its expected score, a note the report must show, and why.
All cases are graded in one run beside well-behaved students, through the same ``grade`` path as
``make demo``; the well-behaved students are graded again alone to prove their gradebook is unaffected,
and every file of the course, the instructor's source and the hidden data is hashed before and after.
"""

from __future__ import annotations

import hashlib
import html
import re
import socket
import threading
import time
from pathlib import Path

import nbformat
import pytest

from dl4phys import grading, sandbox
from dl4phys.grading.cases import build_case, cases_in, load_case

from .conftest import REPO, SOURCE, cell_grades, scratch_course

pytestmark = [
    pytest.mark.grading,
    pytest.mark.slow,
    pytest.mark.skipif(sandbox.bwrap_path() is None, reason="bubblewrap is not installed"),
]

ASSIGNMENT = "hw02_gradient_descent"
HOSTILE = Path(__file__).parent / "hostile"
CASES = {name: load_case(path) for name, path in cases_in(HOSTILE).items()}
WELL_BEHAVED = ["perfect", "blank", "partial", "alternative-correct"]
NETWORK_PORT = 47819  # the uses-network case tries to reach this port on 127.0.0.1
# Short limits so the infinite loop, the memory bomb and the fork bomb cost seconds, not the course's minutes.
LIMITS = {
    "Execute": {"timeout": 20},
    "SandboxKernelManager": {"memory_mb": 2500, "tmp_mb": 256, "shm_mb": 64, "walltime_s": 600, "max_processes": 256},
}
RUN_LIMIT_S = 1200


def _digest(root: Path, skip: set[Path]) -> dict[str, str]:
    """Checksums of every file under ``root`` except those inside ``skip`` folders (links are not followed)."""
    digests = {}
    for path in sorted(root.rglob("*")):
        if path.is_file() and not path.is_symlink() and not any(s in path.parents for s in skip):
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
    return scratch_course(root).with_overrides(LIMITS)


def _submit(course: grading.Course, student: str, case_file: Path) -> None:
    build_case(case_file, course.release / ASSIGNMENT, SOURCE / ASSIGNMENT, course.submitted / student / ASSIGNMENT)


@pytest.fixture(scope="module")
def hostile_run(tmp_path_factory):
    course = _course(tmp_path_factory.mktemp("hostile"))
    grading.release(course, [ASSIGNMENT])
    for student in WELL_BEHAVED:
        _submit(course, student, REPO / "tests" / "submissions" / ASSIGNMENT / f"{student}.toml")
    for case in CASES:
        _submit(course, case, HOSTILE / f"{case}.toml")
    hostile = {course.root / step / case for step in ("submitted", "autograded", "feedback") for case in CASES}
    # Everything outside the hostile students' folders must stay as it is; the gradebook, notes and the
    # others' autograded folders are the grader's own outputs, compared separately.
    watched = {"course": course.root, "source": SOURCE, "hidden_data": REPO / "hidden_data"}
    skip = hostile | {course.autograded, course.feedback}
    before = {name: _digest(root, skip) for name, root in watched.items()}
    listener = _Listener(NETWORK_PORT)
    started = time.monotonic()
    try:
        outcomes = grading.grade(course, ASSIGNMENT, WELL_BEHAVED + list(CASES), workers=2)
        seconds = time.monotonic() - started
        feedback = grading.feedback(course, ASSIGNMENT, [o.student for o in outcomes if o.ok])
    finally:
        listener.close()
    after = {name: _digest(root, skip) for name, root in watched.items()}
    for digests in (before["course"], after["course"]):
        for name in ("gradebook.db", grading.NOTES_FILE, "gradebook.db-journal"):
            digests.pop(name, None)
    changed = {name: sorted(set(before[name].items()) ^ set(after[name].items())) for name in watched}
    return {
        "course": course,
        "outcomes": {o.student: o for o in outcomes},
        "connections": listener.connections,
        "changed": changed,
        "seconds": seconds,
        "feedback": feedback,
    }


def _printed(course, case) -> str:
    notebook = nbformat.read(next((course.autograded / case / ASSIGNMENT).glob("*.ipynb")), as_version=4)
    return "".join(o.get("text", "") for c in notebook.cells if c.cell_type == "code" for o in c.get("outputs", []))


def test_the_run_finishes_within_its_limits(hostile_run):
    """Does grading every hostile case (FIFOs, bombs, infinite loops included) finish, within a bounded time?"""
    assert hostile_run["seconds"] < RUN_LIMIT_S
    assert all(o.ok for o in hostile_run["feedback"]), hostile_run["feedback"]


@pytest.mark.parametrize("case", sorted(CASES))
def test_hostile_case_gets_deterministic_score_and_a_note(hostile_run, case):
    """Is each broken or hostile case graded, with the score its real code deserves and a one-line note in the report?"""
    outcome = hostile_run["outcomes"][case]
    assert outcome.ok, outcome.reason
    score, _ = grading.score_of(hostile_run["course"], ASSIGNMENT, case)
    assert score == CASES[case].score, (outcome.notes, _printed(hostile_run["course"], case)[-2000:])
    table, _ = grading.report(hostile_run["course"])
    if CASES[case].note:
        notes = grading.grading_notes(hostile_run["course"])[f"{case}/{ASSIGNMENT}"]
        assert any(CASES[case].note in note for note in notes), notes
        assert all("\n" not in note for note in notes)
        assert f"{case}/{ASSIGNMENT}: " in table


def test_nothing_outside_the_hostile_students_folders_changed(hostile_run):
    """Did no hostile notebook change a file of the course (other students' submissions included), the source or the hidden data?"""
    assert hostile_run["changed"] == {"course": [], "source": [], "hidden_data": []}
    assert not list(hostile_run["course"].root.rglob("planted.txt"))


def test_links_fifos_and_odd_files_never_reach_the_grader(hostile_run):
    """Are the autograded and feedback folders free of anything the kernels planted (links, FIFOs, odd files)?"""
    course = hostile_run["course"]
    for folder in (course.autograded, course.feedback):
        for path in folder.rglob("*"):
            assert not path.is_symlink(), path
            assert path.is_dir() or path.is_file(), f"{path} is not a regular file"
            assert path.is_dir() or path.suffix in (".ipynb", ".html"), f"unexpected {path}"


def test_no_secret_was_read_and_no_network_reached(hostile_run):
    """Did the cases that look for source/, the gradebook, root-only files or the network find nothing?"""
    course = hostile_run["course"]
    printed = "".join(_printed(course, case) for case in ("reads-source", "writes-gradebook", "uses-network", "reads-root-files"))
    assert "nothing found" in printed and "no network" in printed and "nothing readable" in printed  # they did run
    for marker in ("LEAKED", "TAMPERED", "NETWORK", "ROOT"):
        assert marker not in printed
    # Files "planted" in .. land in the sandbox's own /tmp, never in the course (checked by hashing it).
    uid = int(re.search(r"running as uid (\d+)", printed).group(1))
    assert uid != 0, "the student's kernel must not run as root"
    assert hostile_run["connections"] == 0


def test_tmp_and_processes_are_capped(hostile_run):
    """Do /tmp and /dev/shm fill at their caps (inside the memory budget), and does a fork bomb stop at the process limit?"""
    course = hostile_run["course"]
    full = int(re.search(r"tmp full at (\d+) MB", _printed(course, "fills-tmp")).group(1))
    assert full <= LIMITS["SandboxKernelManager"]["tmp_mb"]
    full = int(re.search(r"shm full at (\d+) MB", _printed(course, "fills-dev-shm")).group(1))
    assert full <= LIMITS["SandboxKernelManager"]["shm_mb"]
    processes = int(re.search(r"processes in the sandbox: (\d+)", _printed(course, "fork-bomb")).group(1))
    assert processes <= LIMITS["SandboxKernelManager"]["max_processes"] + 5


def test_outputs_are_capped_in_bytes(hostile_run):
    """Are an 8 MB line and 8 MB of display data cut down in the graded notebook and its feedback, with a note?"""
    course = hostile_run["course"]
    notebook = next((course.autograded / "huge-outputs" / ASSIGNMENT).glob("*.ipynb"))
    assert notebook.stat().st_size < 1_500_000
    assert "output truncated by the grader" in notebook.read_text()
    page = next((course.feedback / "huge-outputs" / ASSIGNMENT).glob("*.html"))
    assert page.stat().st_size < 3_000_000


def test_kernel_death_reason_comes_from_the_grader(hostile_run):
    """Does a kernel that planted links where the exit reason used to be get the real reason in its note, and no source text?"""
    notes = grading.grading_notes(hostile_run["course"])[f"exit-reason-link/{ASSIGNMENT}"]
    assert any("memory limit" in note for note in notes), notes
    assert not any("BEGIN" in note or "nbgrader" in note for note in notes)


def test_feedback_holds_no_solution_hidden_test_or_label(hostile_run):
    """Does no feedback page hold a solution line the student did not write, a hidden-test line, or the hidden labels?"""
    course = hostile_run["course"]
    source = "\n".join(c.source for c in nbformat.read(SOURCE / ASSIGNMENT / "gradient_descent.ipynb", as_version=4).cells)
    blocks = r"### BEGIN (SOLUTION|HIDDEN TESTS)\n(.*?)### END \1"
    outside = re.sub(blocks, "", source, flags=re.S)  # lines the release shows anyway are no secret
    secret = {
        line.strip()
        for _, block in re.findall(blocks, source, re.S)
        for line in block.splitlines()
        if len(line.strip()) > 15 and line.strip() not in outside
    }
    labels = (REPO / "hidden_data" / "test_labels.npy").read_bytes()
    for page in course.feedback.rglob("*.html"):
        student = page.relative_to(course.feedback).parts[0]
        own = (course.submitted / student / ASSIGNMENT / "gradient_descent.ipynb").read_text(errors="replace")
        text = html.unescape(re.sub(r"<[^>]+>", "", page.read_text()))
        leaked = [line for line in secret if line in text and line not in own]
        assert not leaked, f"{page}: {leaked[:2]}"
        assert labels[-200:] not in page.read_bytes()


def test_well_behaved_gradebook_is_the_same_without_the_hostile_students(hostile_run, serial_hw02):
    """Do the well-behaved students get exactly the same grades, cell by cell, as when graded without them
    (hw02's demo cases graded serially)?"""
    assert serial_hw02.assignment == ASSIGNMENT and set(WELL_BEHAVED) <= set(serial_hw02.students)
    alone = serial_hw02.cell_grades(WELL_BEHAVED)
    assert alone and alone == cell_grades(hostile_run["course"], ASSIGNMENT, WELL_BEHAVED)


def test_grade_refuses_without_bubblewrap_unless_unsafe(tmp_path, monkeypatch):
    """Without bubblewrap, does grade refuse with a one-line reason, and run with --unsafe?"""
    monkeypatch.setattr(sandbox, "bwrap_path", lambda: None)
    course = _course(tmp_path)
    grading.release(course, [ASSIGNMENT])
    _submit(course, "blank", REPO / "tests" / "submissions" / ASSIGNMENT / "blank.toml")
    with pytest.raises(grading.CourseError, match="bubblewrap is not installed.*--unsafe"):
        grading.grade(course, ASSIGNMENT)
    outcomes = grading.grade(course, ASSIGNMENT, unsafe=True)
    assert outcomes[0].ok and grading.score_of(course, ASSIGNMENT, "blank")[0] == 0


def test_tamper_scan_flags_cheats_but_not_the_course_set_up_cell(tmp_path):
    """Does the static scan flag replaced torch functions and paths outside the submission, but not the release's own set-up cell?"""
    from dl4phys.grading.tamper import scan_notebook, scan_source

    assert scan_source("import torch\ntorch.allclose = lambda *a, **k: True") == ["replaces torch.allclose"]
    assert scan_source("open('../../source/hw.ipynb').read()") == [
        "names the path '../../source/hw.ipynb' outside the submission"
    ]
    assert scan_source("x = [1, 2]\nprint('a/b'.split('/'))\ntorch.manual_seed(0)") == []
    release = next((REPO / "release" / ASSIGNMENT).glob("*.ipynb"))
    header = SOURCE / "header.ipynb"
    assert scan_notebook(release, header) == []
    notebook = nbformat.read(release, as_version=4)
    notebook.cells.append(nbformat.v4.new_code_cell("import numpy as np\nnp.testing.assert_allclose = print"))
    nbformat.write(notebook, tmp_path / "nb.ipynb")
    assert scan_notebook(tmp_path / "nb.ipynb", header) == ["cell: replaces np.testing.assert_allclose"]
