"""The student's check before submitting: run the notebook as the autograder will, and say what fails.

``python -m dl4phys check NOTEBOOK`` (or ``from dl4phys.check import check; check("hw.ipynb")`` in a
cell) runs the notebook top to bottom in a fresh kernel (nbclient), so a notebook that only worked
because cells were run out of order fails here too, and prints which test cells still fail and why,
and which read-only cells were edited (the grader restores them). Only the visible tests run: the
grade also depends on hidden ones.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from pathlib import Path

#: Tag of a read-only demonstration cell whose results no test reads (fine-tuning a big network to show
#: what it does): the grader does not run it, nor does ``check``, which runs the notebook as the grader
#: does. Students run it like any other cell. The grader takes the tags from the instructor's source
#: notebook, never from a submission.
SKIPPED_WHEN_GRADING = "skip-when-grading"
SKIPPED_NOTE = "[not run by the grader: a demonstration whose results no test reads]\n"

DOCSTRING = re.compile(r"^\s*(?:'''|\"\"\")(.*?)(?:'''|\"\"\")", re.S)
ANSI = re.compile(r"\x1b\[[0-9;]*m")


@dataclass
class CheckResult:
    notebook: Path
    failed: list[tuple[str, str]] = field(default_factory=list)  # (what the test checks, last error line)
    edited_read_only: list[str] = field(default_factory=list)
    type_changed: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not (self.failed or self.edited_read_only or self.type_changed)


def _title(source: str) -> str:
    match = DOCSTRING.match(source)
    lines = source.strip().splitlines() or [""]
    return " ".join((match.group(1) if match else lines[0]).split())[:100]


def _error_line(output) -> str:
    lines = [ANSI.sub("", line).strip() for line in output.get("traceback", [])]
    lines = [line for line in "\n".join(lines).splitlines() if line.strip() and not set(line.strip()) <= set("-")]
    for line in reversed(lines):
        if re.match(r"^[\w.]*(Error|Exception|Exit)\b", line):
            return line
    return f"{output.get('ename', 'Error')}: {output.get('evalue', '')}"


def skipped_when_grading(notebook) -> set[str]:
    """grade_ids of the notebook's read-only, ungraded code cells tagged ``skip-when-grading``."""
    skipped = set()
    for cell in notebook.cells:
        meta = cell.metadata.get("nbgrader", {})
        if (
            cell.cell_type == "code"
            and SKIPPED_WHEN_GRADING in cell.metadata.get("tags", [])
            and meta.get("grade_id")
            and meta.get("locked")
            and not meta.get("grade")
            and not meta.get("solution")
        ):
            skipped.add(meta["grade_id"])
    return skipped


def checksum(cell) -> str:
    """nbgrader's checksum of a cell (``nbgrader.utils.compute_checksum``): what the release recorded."""
    meta = cell.metadata.get("nbgrader", {})
    digest = hashlib.md5()
    for part in (
        cell.source,
        cell.cell_type,
        str(bool(meta.get("grade"))),
        str(bool(meta.get("solution"))),
        str(bool(meta.get("locked"))),
        meta.get("grade_id", ""),
    ):
        digest.update(part.encode("utf-8"))
    if meta.get("grade"):
        digest.update(str(float(meta.get("points", 0))).encode("utf-8"))
    return digest.hexdigest()


def run_check(notebook: str | Path, timeout: int = 600) -> CheckResult:
    """Run ``notebook`` in a fresh kernel; what failed, as data."""
    import nbformat
    from nbclient import NotebookClient

    path = Path(notebook).resolve()
    if not path.exists():
        raise FileNotFoundError(f"no notebook at {path}")
    nb = nbformat.read(path, as_version=4)
    result = CheckResult(path)
    for cell in nb.cells:
        meta = cell.metadata.get("nbgrader", {})
        if meta.get("cell_type") and meta["cell_type"] != cell.cell_type:
            result.type_changed.append(_title(cell.source))
        elif meta.get("locked") and meta.get("checksum") and checksum(cell) != meta["checksum"]:
            result.edited_read_only.append(_title(cell.source))
    skipped = skipped_when_grading(nb)
    for cell in nb.cells:
        if cell.cell_type == "code" and cell.metadata.get("nbgrader", {}).get("grade_id") in skipped:
            cell.source = ""  # nbclient does not run empty cells
    client = NotebookClient(
        nb,
        timeout=timeout,
        kernel_name="python3",
        allow_errors=True,
        resources={"metadata": {"path": str(path.parent)}},
        # The kernel's own start-up log (ipykernel warns that a local TCP kernel is unencrypted) is not the
        # student's business; the notebook's output and errors still come back.
        extra_arguments=["--IPKernelApp.log_level=ERROR"],
    )
    client.execute()
    for cell in nb.cells:
        meta = cell.metadata.get("nbgrader", {})
        if cell.cell_type != "code" or not meta.get("grade") or meta.get("solution"):
            continue
        errors = [o for o in cell.get("outputs", []) if o.get("output_type") == "error"]
        if errors:
            result.failed.append((_title(cell.source), _error_line(errors[0])))
    return result


def format_result(result: CheckResult) -> str:
    name = result.notebook.name
    if result.ok:
        return f"{name}: every visible test passes from a fresh kernel. The hidden tests may still find problems."
    lines = []
    if result.type_changed:
        lines.append(
            f"{name}: the type of a graded cell was changed; undo it (Edit > Undo, or copy your code to a fresh release notebook):"
        )
        lines += [f"  - {title}" for title in result.type_changed]
    if result.edited_read_only:
        lines.append(f"{name}: read-only cells were edited; the grader restores them, so your edits there do not count:")
        lines += [f"  - {title}" for title in result.edited_read_only]
    if result.failed:
        lines.append(f"{name}: {len(result.failed)} test cell(s) still fail when the notebook runs top to bottom:")
        lines += [f"  - {title}\n      {error}" for title, error in result.failed]
    return "\n".join(lines)


def check(notebook: str | Path) -> bool:
    """Print what still fails in ``notebook`` (for a notebook cell); True when nothing does."""
    result = run_check(notebook)
    print(format_result(result))
    return result.ok
