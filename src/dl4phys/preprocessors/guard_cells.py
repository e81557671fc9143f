"""Put the tamper guard in front of every autograded test cell (:mod:`dl4phys.sandbox.guard`).

Run after nbgrader's OverwriteCells, so the guard line is part of the cell that is executed, not of
what the student can edit. Judged test cells are decided outside the kernel (:mod:`.judge`); the guard
remains as defence in depth.
"""

from __future__ import annotations

from nbgrader.preprocessors import NbGraderPreprocessor
from nbgrader.utils import is_grade, is_solution
from traitlets import Unicode

GUARD_LINE = "__import__('dl4phys.sandbox.guard').sandbox.guard.check()  # added by the autograder\n"


class GuardTestCells(NbGraderPreprocessor):
    """Prepend the tamper guard to every autograded test cell."""

    guard_line = Unicode(GUARD_LINE, help="The line that runs the guard at the top of each test cell").tag(config=True)

    def preprocess_cell(self, cell, resources, index):
        is_test = cell.cell_type == "code" and is_grade(cell) and not is_solution(cell)
        if is_test and not cell.source.startswith(self.guard_line):
            cell.source = self.guard_line + cell.source
        return cell, resources
