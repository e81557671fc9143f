"""Feedback without hidden tests: their code, their tracebacks, and any copy of them in the outputs.

nbgrader's feedback shows each test cell as graded, hidden tests included (jupyter/nbgrader#917).
:class:`HideHiddenTests` (in ``c.GenerateFeedback.preprocessors``) uses nbgrader's own
:class:`~nbgrader.preprocessors.ClearHiddenTests` machinery to cut the hidden regions out of the test
cells, drops the autograder's guard line, reduces tracebacks to their last line, and removes from every
output of the notebook any line of a hidden test: a student's code that captured the source of the
cells it ran (IPython hooks see it) and printed it finds nothing of it in its feedback.
"""

from __future__ import annotations

from nbgrader.preprocessors import ClearHiddenTests
from nbgrader.utils import is_grade

from .guard_cells import GUARD_LINE

MIN_LINE = 12  # shorter lines (``else:``, ``x = 1``) say nothing about a hidden test


def hidden_lines(nb, begin: str = "BEGIN HIDDEN TESTS", end: str = "END HIDDEN TESTS") -> set[str]:
    """The lines (stripped) of every hidden-test region of a notebook."""
    found: set[str] = set()
    for cell in nb.cells:
        inside = False
        for line in cell.source.splitlines():
            if begin in line:
                inside = True
            elif end in line:
                inside = False
            elif inside and len(line.strip()) >= MIN_LINE:
                found.add(line.strip())
    return found


class HideHiddenTests(ClearHiddenTests):
    """Cut hidden tests out of a graded notebook before it becomes feedback (see the module docstring)."""

    def preprocess(self, nb, resources):
        self._hidden = hidden_lines(nb, self.begin_test_delimeter, self.end_test_delimeter)
        return super().preprocess(nb, resources)

    def _scrub(self, text: str) -> str:
        if not self._hidden or not text:
            return text
        return "\n".join("[hidden test line removed]" if line.strip() in self._hidden else line for line in text.split("\n"))

    def preprocess_cell(self, cell, resources, index):
        if cell.cell_type == "code" and is_grade(cell):
            self._remove_hidden_test_region(cell)
            if cell.source.startswith(GUARD_LINE):
                cell.source = cell.source[len(GUARD_LINE) :]
        for output in cell.get("outputs", []):
            if output.output_type == "stream":
                output.text = self._scrub(output.text)
            elif output.output_type == "error":
                output.evalue = self._scrub(output.evalue)
                output.traceback = [f"{output.ename}: {output.evalue}"]
            elif "data" in output:
                for mime in list(output.data):
                    if isinstance(output.data[mime], str) and (mime.startswith("text/") or mime == "application/json"):
                        output.data[mime] = self._scrub(output.data[mime])
        return cell, resources
