"""The judge: decides every probed test cell outside the student's kernel (:mod:`dl4phys.judging`).

After the sandboxed execute step, :class:`JudgeTestCells` takes the records the student's kernel left
(handed over in ``resources["dl4phys"]["records"]``) and the reference records of the same notebook
(:func:`dl4phys.judging.reference.reference_records`, computed from the source notebook once per
grading machine), judges each probed test cell (:func:`dl4phys.judging.judge.judge_cell`), and sets the
cell's outputs so that nbgrader's scoring gives exactly the judge's points:

* the kernel's error outputs, stderr and results of a judged cell are removed (they decide nothing;
  a kernel error is kept as one line of text, for the student);
* passed: a line of text, full points; partial credit (hidden-split AUC tiers): a text line and a
  result holding the points; failed: a ``HiddenTestFailed`` error saying what differed, on which input,
  by how much, never the expected values.

Test cells without probes are left as the kernel ran them. The hidden-split labels are read here, on the
grader's side, and never enter a kernel.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from nbformat.notebooknode import NotebookNode
from nbgrader.preprocessors import NbGraderPreprocessor
from nbgrader.utils import is_grade, is_solution
from traitlets import Dict, Unicode

from ..judging.auc import tiered_auc_scorer
from ..judging.judge import ReferenceError, judge_cell
from ..judging.records import RecordError, decode, file_name
from .source import source_notebook

ENAME = "HiddenTestFailed"
GRADER_ERRORS = ("CellTimeoutError", "KernelDied")
MAX_KERNEL_LINE = 300


def _stdout(text: str) -> NotebookNode:
    return NotebookNode(output_type="stream", name="stdout", text=text)


class JudgeTestCells(NbGraderPreprocessor):
    """Judge probed test cells against the reference records (see the module docstring)."""

    auc_tiers = Dict(
        {},
        help="Partial credit of hidden-split AUC records: {assignment: {grade_id: [[min_auc, fraction], ...]}}, "
        "e.g. {'hw01_jet_tagging': {'test_tagger_auc': [[0.9775, 1.0], [0.9600, 0.5]]}}",
    ).tag(config=True)
    hidden_labels = Unicode(
        "", help="The hidden split's labels (.npy, 0/1); empty: dl4phys.data.hidden_test_labels(), the course's hidden data"
    ).tag(config=True)
    reference_dir = Unicode(
        "", help="Cache of reference records (computed from the source notebooks); empty: platformdirs' user cache"
    ).tag(config=True)

    def preprocess(self, nb, resources):
        info = resources.get("nbgrader", {})
        self._assignment = info.get("assignment", "")
        self._records = (resources.get("dl4phys") or {}).get("records", {})
        self._reference = self.reference(self._assignment, info.get("notebook", ""))
        self._labels = None
        return super().preprocess(nb, resources)

    def reference(self, assignment: str, notebook: str) -> dict:
        from ..judging.reference import probed_cells, reference_records

        source = source_notebook(self.config, assignment, notebook)
        if not source.is_file() or not probed_cells(source):
            return {}
        return reference_records(
            source, assignment, self.config, Path(self.reference_dir) if self.reference_dir else None, log=self.log
        )

    def labels(self) -> np.ndarray:
        if self._labels is None:
            if self.hidden_labels:
                self._labels = np.load(self.hidden_labels, allow_pickle=False)
            else:
                from ..data import hidden_test_labels

                self._labels = hidden_test_labels()
        return self._labels

    def _student(self, grade_id: str):
        data = self._records.get(file_name(grade_id))
        if data is None:
            return RecordError(RecordError.MISSING)
        try:
            return decode(data)
        except RecordError as err:
            return err

    def preprocess_cell(self, cell, resources, index):
        if cell.cell_type != "code" or not is_grade(cell) or is_solution(cell):
            return cell, resources
        grade_id = cell.metadata["nbgrader"]["grade_id"]
        if grade_id not in self._reference:
            return cell, resources
        points = float(cell.metadata["nbgrader"].get("points", 0))
        tiers = self.auc_tiers.get(self._assignment, {}).get(grade_id)
        scorer = tiered_auc_scorer(self.labels(), tiers) if tiers else None
        student = self._student(grade_id)
        try:
            verdict = judge_cell(self._reference[grade_id], student, points, scorer)
        except ReferenceError as err:
            raise ReferenceError(f"{self._assignment}/{grade_id}: {err}") from err
        kept = [
            o
            for o in cell.get("outputs", [])
            if o.get("output_type") == "display_data" or o.get("output_type") == "stream" and o.get("name") == "stdout"
        ]
        errors = [o for o in cell.get("outputs", []) if o.get("output_type") == "error"]
        # The grader's own words (a timeout, a dead kernel) say more than the interrupted kernel's error.
        kernel_error = next((o for o in errors if o.get("ename") in GRADER_ERRORS), errors[0] if errors else None)
        if kernel_error is not None:
            evalue = kernel_error.get("evalue") or (
                "the cell ran longer than its time limit" if kernel_error.get("ename") == "CellTimeoutError" else ""
            )
            line = f"{kernel_error.get('ename', '')}: {evalue}".strip()
            kept.append(_stdout(f"The cell stopped at an error: {line[:MAX_KERNEL_LINE]}\n"))
        if verdict.passed:
            kept.append(_stdout(f"Hidden tests: passed ({verdict.message()}).\n" if verdict.notes else "Hidden tests: passed.\n"))
        elif verdict.points > 0:
            kept.append(
                _stdout(
                    f"Hidden tests: partial credit, {verdict.points:g} of {points:g} points: "
                    f"{'; '.join(verdict.notes + verdict.reasons)}\n"
                )
            )
            kept.append(
                NotebookNode(
                    output_type="execute_result", execution_count=None, metadata={}, data={"text/plain": f"{verdict.points:g}"}
                )
            )
        else:
            message = verdict.message()
            if kernel_error is not None and isinstance(student, RecordError) and student.missing:
                # Most often a visible assert: its own message, kept above, is what the student needs.
                message = "the hidden tests did not run: the cell stopped at the error above"
            kept.append(NotebookNode(output_type="error", ename=ENAME, evalue=message, traceback=[f"{ENAME}: {message}"]))
        cell.outputs = kept
        return cell, resources
