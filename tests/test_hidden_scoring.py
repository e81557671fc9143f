"""Does the grader-side scoring of hidden-split predictions set the right outputs (and so the points)?"""

from __future__ import annotations

import numpy as np
import pytest
from nbformat.v4 import new_code_cell, new_notebook, new_output
from sklearn.metrics import roc_auc_score
from traitlets.config import Config

from dl4phys.hidden_scoring import ENAME, ScoreHiddenPredictions

PREDICTIONS = "hidden_test_predictions.npy"


def _cell(grade_id: str = "test_tagger_auc", outputs=None, grade: bool = True):
    meta = {"nbgrader": {"grade": grade, "grade_id": grade_id, "locked": True, "points": 4,
                         "schema_version": 3, "solution": False, "task": False}}
    cell = new_code_cell("...", metadata=meta)
    cell.outputs = list(outputs or [])
    return cell


@pytest.fixture
def labels(tmp_path):
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 1000)
    path = tmp_path / "labels.npy"
    np.save(path, y)
    return y, path


def _run(folder, labels_path, cells, min_auc=0.9):
    config = Config()
    config.ScoreHiddenPredictions.cells = {"test_tagger_auc": {"predictions": PREDICTIONS, "min_auc": min_auc}}
    config.ScoreHiddenPredictions.labels_file = str(labels_path)
    nb = new_notebook(cells=cells)
    nb, _ = ScoreHiddenPredictions(config=config).preprocess(nb, {"metadata": {"path": str(folder)}})
    return nb.cells


def _errors(cell):
    return [o for o in cell.outputs if o.output_type == "error"]


def test_good_predictions_pass_with_the_auc_printed(tmp_path, labels):
    """Predictions that separate the classes keep the cell free of errors and print the AUC from the labels."""
    y, path = labels
    preds = np.clip(0.5 + 0.4 * (y - 0.5) + np.random.default_rng(1).normal(0, 0.1, len(y)), 0, 1)
    np.save(tmp_path / PREDICTIONS, preds)
    kernel_out = new_output("stream", name="stdout", text="saved\n")
    (cell,) = _run(tmp_path, path, [_cell(outputs=[kernel_out])])
    assert not _errors(cell)
    assert f"{roc_auc_score(y, preds):.4f}" in cell.outputs[-1].text
    assert cell.outputs[0].text == "saved\n"


def test_auc_below_threshold_is_an_error(tmp_path, labels):
    """The score uses the labels: a prediction that is good for other labels fails on these."""
    y, path = labels
    np.save(tmp_path / PREDICTIONS, (1 - y).astype(float))  # perfectly wrong: AUC 0
    (cell,) = _run(tmp_path, path, [_cell()])
    (error,) = _errors(cell)
    assert error.ename == ENAME and "0.0000" in error.evalue and "0.9000" in error.evalue


@pytest.mark.parametrize(("what", "preds"), [
    ("constant", np.full(1000, 0.5)),
    ("shuffled", None),
])
def test_constant_and_shuffled_predictions_fail(tmp_path, labels, what, preds):
    y, path = labels
    if preds is None:
        good = np.where(y == 1, 0.9, 0.1)
        preds = np.random.default_rng(2).permutation(good)
    np.save(tmp_path / PREDICTIONS, preds)
    (cell,) = _run(tmp_path, path, [_cell()])
    assert _errors(cell), what


def test_missing_file_is_an_error(tmp_path, labels):
    _, path = labels
    (cell,) = _run(tmp_path, path, [_cell()])
    (error,) = _errors(cell)
    assert error.ename == ENAME and "did not save" in error.evalue


@pytest.mark.parametrize(("what", "preds"), [
    ("wrong length", np.full(999, 0.5)),
    ("two columns", np.full((1000, 2), 0.5)),
    ("above one", np.full(1000, 1.5)),
    ("negative", np.full(1000, -0.1)),
    ("nan", np.full(1000, np.nan)),
    ("strings", np.array(["a"] * 1000)),
])
def test_ill_formed_predictions_are_errors(tmp_path, labels, what, preds):
    _, path = labels
    np.save(tmp_path / PREDICTIONS, preds)
    (cell,) = _run(tmp_path, path, [_cell()])
    assert len(_errors(cell)) == 1, what


def test_object_arrays_are_not_unpickled(tmp_path, labels):
    """A pickled object array could run code in the grader: it is refused."""
    _, path = labels
    np.save(tmp_path / PREDICTIONS, np.array([0.5] * 1000, dtype=object), allow_pickle=True)
    (cell,) = _run(tmp_path, path, [_cell()])
    assert len(_errors(cell)) == 1


def test_a_cell_that_failed_in_the_kernel_keeps_its_error(tmp_path, labels):
    """An error from the kernel stands, even if a (stale) predictions file would pass."""
    y, path = labels
    np.save(tmp_path / PREDICTIONS, y.astype(float))
    kernel_error = new_output("error", ename="AssertionError", evalue="bad shape", traceback=[])
    (cell,) = _run(tmp_path, path, [_cell(outputs=[kernel_error])])
    assert [e.ename for e in _errors(cell)] == ["AssertionError"]


def test_stderr_is_dropped_and_other_cells_are_untouched(tmp_path, labels):
    y, path = labels
    np.save(tmp_path / PREDICTIONS, y.astype(float))
    stderr = new_output("stream", name="stderr", text="UserWarning: something\n")
    other = _cell("test_roc_auc", outputs=[stderr])
    ungraded = _cell("test_tagger_auc", outputs=[stderr], grade=False)
    scored, other_out, ungraded_out = _run(tmp_path, path, [_cell(outputs=[stderr]), other, ungraded])
    assert not _errors(scored) and all(o.get("name") != "stderr" for o in scored.outputs)
    assert other_out.outputs == [stderr] and ungraded_out.outputs == [stderr]


def test_course_config_registers_the_scorer():
    """Is the scorer in the autograde pipeline, after execution and before the grades are saved?"""
    from dl4phys import grading

    config = grading.load_config(grading.Course())
    names = [p if isinstance(p, str) else f"{p.__module__}.{p.__name__}" for p in config.Autograde.autograde_preprocessors]
    scorer = names.index("dl4phys.hidden_scoring.ScoreHiddenPredictions")
    assert any("IgnorePattern" in n for n in names[:scorer])
    assert any("SaveAutoGrades" in n for n in names[scorer:])
    settings = config.ScoreHiddenPredictions.cells["test_tagger_auc"]
    assert settings["predictions"] == PREDICTIONS and 0.9 < settings["min_auc"] < 1


def test_missing_labels_are_an_error_not_a_crash(tmp_path):
    """Without the hidden labels (a grader without hidden_data) the cell fails instead of the whole grading run."""
    np.save(tmp_path / PREDICTIONS, np.full(10, 0.5))
    (cell,) = _run(tmp_path, tmp_path / "absent.npy", [_cell()])
    (error,) = _errors(cell)
    assert error.ename == ENAME and "labels" in error.evalue
