"""Does the course command line answer the usual mistakes with one clear line, and keep going?"""

from __future__ import annotations

import shutil

import pytest

from dl4phys import grading
from dl4phys.cli import main

from .conftest import ASSIGNMENTS, REPO, case_notebook


def _one_error_line(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    assert err[0].startswith("error: ")
    return err[0]


def test_unknown_assignment_is_one_line_error(capsys):
    """Does `grade` on a misspelt assignment say which assignments exist?"""
    assert main(["grade", "hw02_gradient_decent", "--course-dir", str(REPO)]) == 2
    line = _one_error_line(capsys)
    assert "unknown assignment" in line and "hw02_gradient_descent" in line


def test_not_a_course_folder_is_one_line_error(tmp_path, capsys):
    """Does a command run outside a course folder say where to run it?"""
    assert main(["grade", ASSIGNMENTS[0], "--course-dir", str(tmp_path)]) == 2
    assert "is not a course folder" in _one_error_line(capsys)


def test_no_submissions_is_one_line_error(tmp_path, capsys):
    """Does `grade` with nothing submitted say where submissions belong?"""
    course = tmp_path / "course"
    course.mkdir()
    (course / "source").symlink_to(REPO / "source")
    assert main(["grade", ASSIGNMENTS[0], "--course-dir", str(course)]) == 2
    assert "no submissions" in _one_error_line(capsys)


def test_report_without_gradebook_is_one_line_error(tmp_path, capsys):
    """Does `report` before any grading explain what to do?"""
    (tmp_path / "source").mkdir()
    assert main(["report", "--course-dir", str(tmp_path)]) == 2
    assert "grade something first" in _one_error_line(capsys)


def test_invalid_json_submission_is_graded_zero_with_a_note(tmp_path, capsys):
    """Does a notebook that is not valid JSON get zero and a one-line note, while the others are graded and its file is untouched?"""
    assignment = "hw02_gradient_descent"
    (tmp_path / "source").symlink_to(REPO / "source")
    shutil.copyfile(REPO / "nbgrader_config.py", tmp_path / "nbgrader_config.py")
    course = grading.Course(root=tmp_path, cases=REPO / "tests" / "submissions")
    grading.release(course, [assignment])
    notebook = course.notebooks(assignment)[0] + ".ipynb"
    broken = course.submitted / "broken-json" / assignment
    broken.mkdir(parents=True)
    (broken / notebook).write_text('{"cells": [ this is not json')
    original = (broken / notebook).read_bytes()
    case_notebook(assignment, "perfect", course.submitted / "perfect" / assignment)

    # One worker: the hostile run grades the same repair on Dask (tests/hostile/invalid-json.toml).
    code = main(["grade", assignment, "--course-dir", str(tmp_path), "--workers", "1"])
    out = capsys.readouterr().out
    assert code == 0
    assert "autograded 2 of 2" in out
    notes = [line for line in out.splitlines() if line.startswith("note: broken-json/")]
    assert len(notes) == 1 and "not a valid notebook" in notes[0]
    assert (broken / notebook).read_bytes() == original, "the student's file must not be touched"
    assert grading.score_of(course, assignment, "broken-json")[0] == 0
    assert grading.score_of(course, assignment, "perfect")[0] == grading.expected_scores(course, assignment)["perfect"]


def test_release_of_a_broken_source_notebook_is_one_line_error(tmp_path, capsys):
    """Does `release` name the source notebook that is not valid JSON?"""
    source = tmp_path / "source" / "hw99_broken"
    source.mkdir(parents=True)
    (source / "broken.ipynb").write_text("not json")
    course = grading.Course(root=tmp_path)
    with pytest.raises(grading.CourseError, match="not a valid notebook"):
        grading.release(course, ["hw99_broken"])


def test_demo_of_a_misspelt_assignment_is_one_line_error(tmp_path, capsys):
    """Does `demo` name the assignments that exist when given one that does not?"""
    assert main(["demo", "hw02_gradient_decent", "--course-dir", str(REPO), "--out", str(tmp_path)]) == 2
    assert "unknown assignment" in _one_error_line(capsys)


@pytest.mark.grading
@pytest.mark.slow
@pytest.mark.hw02
def test_demo_grades_into_its_own_folder_and_leaves_release_alone(serial_hw02):
    """Does `demo` release, grade and report in its own course folder, without rewriting the committed release/?"""
    assignment, out, folder = serial_hw02.assignment, serial_hw02.output, serial_hw02.course.root
    assert "perfect" in out and "11/11" in out
    assert (folder / "release" / assignment).is_dir() and (folder / "grades.csv").is_file()
    committed = serial_hw02.release_before
    assert committed and {p: p.read_bytes() for p in committed} == committed
