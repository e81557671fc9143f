"""nbgrader preprocessors of the course, selected in ``nbgrader_config.py`` and by :mod:`dl4phys.grading`.

* :class:`SandboxedExecute` runs a notebook like nbgrader's ``Execute``, but when the kernel dies
  (``os._exit``, a crash, the sandbox's memory or time limit) it records that in the cell that was
  running and in every later code cell, so those cells score zero and the cells before keep their
  points: a deterministic score instead of a failed grading run.
* :class:`GuardTestCells` makes every autograded test cell first check that the student's code has
  not replaced functions of torch, numpy, builtins or the checking helpers (see :mod:`dl4phys.guard`).
* :class:`HideHiddenTests` prepares feedback: hidden test lines are cut from the test cells and
  tracebacks are reduced to their last line (the assertion message), so feedback never shows the
  source of a hidden test (nbgrader shows it: jupyter/nbgrader#917).
"""

from __future__ import annotations

import re

from nbclient.exceptions import DeadKernelError
from nbformat.notebooknode import NotebookNode
from nbgrader.preprocessors import Execute, NbGraderPreprocessor
from nbgrader.utils import is_grade, is_solution
from traitlets import Unicode

GUARD_LINE = "__import__('dl4phys.guard').guard.check()  # added by the autograder\n"
HIDDEN_BLOCK = re.compile(r"[ \t]*### BEGIN HIDDEN TESTS.*?### END HIDDEN TESTS[ \t]*\n?", re.S)
KERNEL_DIED = "KernelDied"


def _error_output(ename: str, evalue: str) -> NotebookNode:
    return NotebookNode(output_type="error", ename=ename, evalue=evalue, traceback=[f"{ename}: {evalue}"])


class SandboxedExecute(Execute):
    """nbgrader's Execute that survives the death of the kernel (see the module docstring)."""

    _death_reason = ""

    def preprocess(self, nb, resources=None, km=None):
        self._death_reason = ""
        return super().preprocess(nb, resources, km=km)

    def preprocess_cell(self, cell, resources, index):
        if cell.cell_type != "code":
            return cell, resources
        if self._death_reason:
            cell.outputs.append(_error_output(KERNEL_DIED, f"not run: {self._death_reason}"))
            return cell, resources
        try:
            return super().preprocess_cell(cell, resources, index)
        except DeadKernelError:
            exit_reason = getattr(self.km, "exit_reason", lambda: "")()
            self._death_reason = (f"the kernel was stopped: {exit_reason}" if exit_reason
                                  else "the kernel died while running this cell (os._exit, a crash, or out of memory)")
            self.log.warning("%s in cell %d", self._death_reason, index)
            cell.outputs.append(_error_output(KERNEL_DIED, self._death_reason))
            return cell, resources


class GuardTestCells(NbGraderPreprocessor):
    """Prepend the tamper guard to every autograded test cell (run after OverwriteCells)."""

    guard_line = Unicode(GUARD_LINE).tag(config=True)

    def preprocess_cell(self, cell, resources, index):
        if cell.cell_type == "code" and is_grade(cell) and not is_solution(cell):
            if not cell.source.startswith(self.guard_line):
                cell.source = self.guard_line + cell.source
        return cell, resources


class HideHiddenTests(NbGraderPreprocessor):
    """Cut hidden tests and traceback source lines out of a notebook before it becomes feedback."""

    def preprocess_cell(self, cell, resources, index):
        if cell.cell_type != "code":
            return cell, resources
        if is_grade(cell):
            source = HIDDEN_BLOCK.sub("", cell.source)
            if source.startswith(GUARD_LINE):
                source = source[len(GUARD_LINE):]
            cell.source = source
            for output in cell.get("outputs", []):
                if output.output_type == "error":
                    output.traceback = [f"{output.ename}: {output.evalue}"]
        return cell, resources
