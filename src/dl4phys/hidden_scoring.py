"""Grader-side scoring of predictions on the hidden test split, whose labels never enter a student's kernel.

A hidden test cell of a jet assignment applies the student's tagger to the hidden split's *inputs*
(:func:`dl4phys.data.hidden_test_features`, readable in the sandbox) and saves the predictions in the
notebook's own folder, e.g. ``numpy.save("hidden_test_predictions.npy", preds)``. After the notebook
has run, :class:`ScoreHiddenPredictions` (in ``c.Autograde.autograde_preprocessors``, before
``SaveAutoGrades``) reads that file on the grader's side, compares the predictions with the labels
(:func:`dl4phys.data.hidden_test_labels`, which the sandbox cannot see) and sets the cell's outputs:

* the cell already failed in the kernel (an ``error`` output): left as it is, zero points;
* the predictions are missing, unreadable, of the wrong length, not finite or outside [0, 1]:
  an error output ``HiddenTestFailed``, zero points;
* ROC AUC below the cell's ``min_auc``: an error output ``HiddenTestFailed`` naming the AUC and the
  threshold, zero points;
* otherwise one stdout line with the AUC, full points.

The grade depends only on the saved predictions, so a seeded tagger gets the same grade every time.
Configure it per test cell, by ``grade_id``::

    c.ScoreHiddenPredictions.cells = {
        "test_tagger_auc": {"predictions": "hidden_test_predictions.npy", "min_auc": 0.9775},
    }
"""

from __future__ import annotations

import math
import os

import numpy as np
from nbformat.notebooknode import NotebookNode
from nbgrader.preprocessors import NbGraderPreprocessor
from nbgrader.utils import is_grade
from traitlets import Dict, Unicode

ENAME = "HiddenTestFailed"


def _error(evalue: str) -> NotebookNode:
    return NotebookNode(output_type="error", ename=ENAME, evalue=evalue, traceback=[f"{ENAME}: {evalue}"])


def _stdout(text: str) -> NotebookNode:
    return NotebookNode(output_type="stream", name="stdout", text=text)


class ScoreHiddenPredictions(NbGraderPreprocessor):
    """Score the hidden-split predictions that test cells saved, against labels only the grader reads."""

    cells = Dict(
        {},
        help="grade_id -> {'predictions': file name in the notebook's folder, 'min_auc': lowest passing ROC AUC}",
    ).tag(config=True)
    labels_file = Unicode(
        "", help="A .npy file of 0/1 labels; empty: dl4phys.data.hidden_test_labels() (the hidden split)"
    ).tag(config=True)

    def preprocess(self, nb, resources):
        self._labels = None
        self._folder = (resources or {}).get("metadata", {}).get("path") or "."
        return super().preprocess(nb, resources)

    def labels(self) -> np.ndarray:
        if self._labels is None:
            if self.labels_file:
                labels = np.load(self.labels_file, allow_pickle=False)
            else:
                from dl4phys.data import hidden_test_labels

                labels = hidden_test_labels()
            self._labels = np.asarray(labels).astype(np.int64).ravel()
        return self._labels

    def preprocess_cell(self, cell, resources, index):
        if cell.cell_type != "code" or not is_grade(cell):
            return cell, resources
        settings = self.cells.get(cell.metadata["nbgrader"].get("grade_id"))
        if settings is None:
            return cell, resources
        outputs = list(cell.get("outputs", []))
        if any(o.get("output_type") == "error" for o in outputs):
            return cell, resources  # failed in the kernel already: no points
        kept = [o for o in outputs if not (o.get("output_type") == "stream" and o.get("name") == "stderr")]
        verdict = self.score(os.path.join(self._folder, settings["predictions"]), float(settings["min_auc"]))
        cell.outputs = kept + [verdict]
        return cell, resources

    def score(self, path: str, min_auc: float) -> NotebookNode:
        """The output that grades the predictions saved at ``path``: stdout (pass) or an error (fail)."""
        from sklearn.metrics import roc_auc_score

        name = os.path.basename(path)
        if not os.path.isfile(path):
            return _error(f"no predictions: the test cell did not save {name}")
        try:
            preds = np.load(path, allow_pickle=False)
            preds = np.asarray(preds, dtype=np.float64)
        except Exception as exc:  # a corrupt file or an object array
            return _error(f"{name} is not a numeric NumPy array ({type(exc).__name__})")
        try:
            labels = self.labels()
        except OSError as exc:  # HiddenDataUnavailable is a FileNotFoundError
            self.log.error("cannot score the hidden test split: %s", exc)
            return _error(f"the grader has no labels of the hidden test split ({exc})")
        if preds.shape != labels.shape:
            return _error(f"the predictions have shape {preds.shape}, expected ({len(labels)},): one per hidden-test jet")
        if not np.all(np.isfinite(preds)) or preds.min() < 0.0 or preds.max() > 1.0:
            return _error("the predictions must be probabilities: finite and in [0, 1]")
        auc = float(roc_auc_score(labels, preds))
        if not math.isfinite(auc) or auc < min_auc:
            return _error(f"ROC AUC on the hidden test split is {auc:.4f}, below the required {min_auc:.4f}")
        return _stdout(f"ROC AUC on the hidden test split: {auc:.4f} (required: {min_auc:.4f})\n")
