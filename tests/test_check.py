"""Does the student's `check` run a notebook the way the autograder will and say what still fails?"""

from __future__ import annotations

import nbformat

from dl4phys.cli import main

from .conftest import case_notebook

ASSIGNMENT = "hw02_gradient_descent"


def test_perfect_notebook_passes(tmp_path, capfd):
    """Does a correct notebook pass, with exit status 0, and without the kernel's start-up warnings on the terminal?"""
    notebook = case_notebook(ASSIGNMENT, "perfect", tmp_path)
    assert main(["check", str(notebook)]) == 0
    out, err = capfd.readouterr()
    assert "every visible test passes" in out
    assert "WARNING" not in err, err[-500:]


def test_partial_notebook_lists_failing_tests_with_reasons(tmp_path, capsys):
    """Does check name each failing test by what it checks, with its error line?"""
    notebook = case_notebook(ASSIGNMENT, "partial", tmp_path)
    assert main(["check", str(notebook)]) == 1
    out = capsys.readouterr().out
    assert "2 test cell(s) still fail" in out
    assert "momentum does not match torch.optim.SGD" in out and "NotImplementedError" in out


def test_notebook_that_only_worked_out_of_order_fails(tmp_path, capsys):
    """Does an answer defined below the test that uses it fail, as it will in the autograder's fresh kernel?"""
    nb = nbformat.read(case_notebook(ASSIGNMENT, "perfect", tmp_path / "perfect"), as_version=4)
    ids = [c.metadata.get("nbgrader", {}).get("grade_id") for c in nb.cells]
    answer = nb.cells.pop(ids.index("mse"))
    nb.cells.insert(ids.index("test_mse"), answer)  # now just below its test
    notebook = tmp_path / "gradient_descent.ipynb"
    nbformat.write(nb, notebook)
    assert main(["check", str(notebook)]) == 1
    out = capsys.readouterr().out
    assert "Does mse return the mean" in out and "NameError" in out


def test_missing_notebook_is_one_line_error(tmp_path, capsys):
    """Does check on a wrong path say what to give it?"""
    assert main(["check", str(tmp_path / "nope.ipynb")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "is not a notebook file" in err[0]


def test_check_skips_only_tagged_read_only_demonstrations(tmp_path, capsys):
    """Does check skip a read-only, ungraded cell tagged skip-when-grading (as the grader does), but still run a
    tagged test cell?"""
    from dl4phys.check import SKIPPED_WHEN_GRADING

    nb = nbformat.read(case_notebook(ASSIGNMENT, "partial", tmp_path / "partial"), as_version=4)
    ids = [c.metadata.get("nbgrader", {}).get("grade_id") for c in nb.cells]
    demo = nbformat.v4.new_code_cell("del mse  # a demonstration that, if it ran, would break the tests below")
    demo.metadata["nbgrader"] = {"grade": False, "grade_id": "demo", "locked": True, "solution": False, "schema_version": 3}
    demo.metadata["tags"] = [SKIPPED_WHEN_GRADING]
    nb.cells.insert(ids.index("mse") + 1, demo)
    for cell in nb.cells:
        if cell.metadata.get("nbgrader", {}).get("grade_id") == "test_SGD_momentum_weight_decay":
            cell.metadata["tags"] = [SKIPPED_WHEN_GRADING]  # a test cell: the tag does not apply
    notebook = tmp_path / "gradient_descent.ipynb"
    nbformat.write(nb, notebook)
    assert main(["check", str(notebook)]) == 1
    out = capsys.readouterr().out
    assert "2 test cell(s) still fail" in out  # the partial case's two, and not test_mse (the demonstration did not run)
    assert "momentum does not match torch.optim.SGD" in out
