"""nbgrader's execute step, in the sandbox, surviving kernel deaths, with outputs capped in bytes.

* The kernel runs under :class:`dl4phys.sandbox.SandboxKernelManager` (``sandbox = False``, for
  ``--unsafe``: :class:`~dl4phys.sandbox.ScratchKernelManager`), so it never works in the student's
  ``autograded/`` folder; the records its hidden tests wrote are read back after it ended and handed
  to the judge in ``resources["dl4phys"]``.
* When the kernel dies (``os._exit``, a crash, the sandbox's memory, time or disk limit) the cell that
  was running and every later code cell get a ``KernelDied`` error: those cells score zero, the cells
  before keep their points, and grading goes on.
* Read-only demonstration cells that the instructor's source notebook tags ``skip-when-grading``
  (:data:`dl4phys.check.SKIPPED_WHEN_GRADING`: no test reads their results) are not run; they get a
  note instead. Which cells those are is read from the source, never from the submission.
* The kernel is killed, not asked to shut down, once the last cell replied (``shutdown_kernel =
  "immediate"``): nothing it could still do counts, and no exit handler of student code runs.
* Every output is capped in bytes as it arrives (streams, display data, results, tracebacks), with a
  note saying so; so is each cell's output in all. nbgrader's LimitOutput counts only lines of streams.
"""

from __future__ import annotations

import json
from pathlib import Path

from nbclient.exceptions import DeadKernelError
from nbformat.notebooknode import NotebookNode
from nbgrader.preprocessors import Execute
from traitlets import Bool, Integer, default

from ..check import SKIPPED_NOTE

KERNEL_DIED = "KernelDied"
#: What the kernel left that the grader ignored, per (student, assignment, notebook) graded in this
#: process; :mod:`dl4phys.grading.autograde` turns it into report notes.
RUN_NOTES: dict[tuple[str, str, str], list[str]] = {}
TRUNCATED = "\n[output truncated by the grader: it was larger than {limit} bytes]\n"


def error_output(ename: str, evalue: str) -> NotebookNode:
    return NotebookNode(output_type="error", ename=ename, evalue=evalue, traceback=[f"{ename}: {evalue}"])


def _size(content) -> int:
    return len(json.dumps(content, default=str)) if not isinstance(content, str) else len(content)


class SandboxedExecute(Execute):
    """Execute in the sandbox (see the module docstring)."""

    sandbox = Bool(True, help="Run kernels in the bubblewrap sandbox; False only for trusted code (grade --unsafe)").tag(
        config=True
    )
    max_output_bytes = Integer(
        64_000, help="Largest single output kept in a graded notebook (bytes); the rest is cut with a note"
    ).tag(config=True)
    max_cell_output_bytes = Integer(256_000, help="Outputs kept per cell, in all (bytes)").tag(config=True)

    @default("shutdown_kernel")
    def _default_shutdown_kernel(self):
        # The kernel is disposable: its records are closed files by the time the last cell replied, and
        # the sandbox's PID namespace ends with it. A polite shutdown of a kernel that loaded torch keeps
        # the worker idle for 1-2 s per notebook.
        return "immediate"

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        from ..sandbox.kernel import SandboxKernelManager, ScratchKernelManager

        self.kernel_manager_class = SandboxKernelManager if self.sandbox else ScratchKernelManager
        self._manager = None
        self._death_reason = ""
        self._cell_bytes: dict[int, int] = {}
        self._skipped: set[str] = set()

    def skipped_cells(self, resources) -> set[str]:
        """grade_ids of the cells not run: the source notebook's tagged demonstrations.

        The source is the course's (found from ``resources["nbgrader"]``), or, when the grader runs a
        source notebook itself (the reference records), the one named in ``resources["dl4phys"]["source"]``.
        """
        import nbformat

        from ..check import skipped_when_grading
        from .source import source_notebook

        info = resources.get("nbgrader") or {}
        if info.get("assignment") and info.get("notebook"):
            path = source_notebook(self.config, info["assignment"], info["notebook"])
        elif (resources.get("dl4phys") or {}).get("source"):
            path = Path(resources["dl4phys"]["source"])
        else:
            return set()
        return skipped_when_grading(nbformat.read(path, as_version=4)) if path.is_file() else set()

    def create_kernel_manager(self):
        self._manager = super().create_kernel_manager()
        return self._manager

    def preprocess(self, nb, resources=None, km=None):
        self._death_reason = ""
        self._cell_bytes = {}
        self._manager = None
        resources = resources if resources is not None else {}
        self._skipped = self.skipped_cells(resources)
        try:
            return super().preprocess(nb, resources, km=km)
        finally:
            manager = self._manager
            if manager is not None:
                manager.harvest()  # idempotent: also when cleanup never ran
                resources.setdefault("dl4phys", {}).update(
                    records=dict(manager.records), ignored=list(manager.ignored), exit_reason=manager.exit_reason()
                )
                info = resources.get("nbgrader", {})
                if manager.ignored and info:
                    RUN_NOTES[(info.get("student"), info.get("assignment"), info.get("notebook"))] = list(manager.ignored)

    def preprocess_cell(self, cell, resources, index):
        if cell.cell_type != "code":
            return cell, resources
        if self._death_reason:
            cell.outputs.append(error_output(KERNEL_DIED, f"not run: {self._death_reason}"))
            return cell, resources
        if cell.metadata.get("nbgrader", {}).get("grade_id") in self._skipped:
            cell.outputs = [NotebookNode(output_type="stream", name="stdout", text=SKIPPED_NOTE)]
            return cell, resources
        try:
            return super().preprocess_cell(cell, resources, index)
        except DeadKernelError:
            reason = self._manager.exit_reason() if self._manager is not None else ""
            self._death_reason = (
                f"the kernel was stopped: {reason}"
                if reason
                else "the kernel died while running this cell (os._exit, a crash, or out of memory)"
            )
            self.log.warning("%s in cell %d", self._death_reason, index)
            cell.outputs.append(error_output(KERNEL_DIED, self._death_reason))
            return cell, resources

    # -- byte caps, applied as outputs arrive ---------------------------------------------------
    def _capped(self, content: dict, msg_type: str, limit: int) -> dict:
        """The message content cut down to ``limit`` bytes of text, with a note."""
        note = TRUNCATED.format(limit=limit)
        if msg_type == "stream":
            return dict(content, text=str(content.get("text", ""))[:limit] + note)
        if msg_type == "error":
            return dict(
                content,
                ename=str(content.get("ename", ""))[:200],
                evalue=str(content.get("evalue", ""))[: limit // 2],
                traceback=[str(line)[:2000] for line in content.get("traceback", [])[:20]] + [note],
            )
        data = content.get("data") or {}
        text = str(data.get("text/plain", ""))[:limit]
        return dict(content, data={"text/plain": text + note}, metadata={})

    def output(self, outs, msg, display_id, cell_index):
        msg_type = msg.get("msg_type")
        if msg_type in ("stream", "display_data", "execute_result", "error", "update_display_data"):
            size = _size(msg.get("content", {}))
            used = self._cell_bytes.get(cell_index, 0)
            if used >= self.max_cell_output_bytes:
                return None  # the note was added when the cap was reached
            limit = min(self.max_output_bytes, self.max_cell_output_bytes - used)
            if size > limit:
                msg = dict(
                    msg,
                    content=self._capped(
                        msg["content"], msg_type if msg_type != "update_display_data" else "display_data", limit
                    ),
                )
                size = limit
            self._cell_bytes[cell_index] = used + size
        return super().output(outs, msg, display_id, cell_index)
