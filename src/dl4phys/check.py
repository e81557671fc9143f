"""The student's check before submitting: run the notebook as the autograder will, and say what fails.

``python -m dl4phys check NOTEBOOK`` (or ``from dl4phys.check import check; check("hw.ipynb")`` in a
cell) runs the notebook top to bottom in a fresh kernel with nbgrader's validator, so a notebook
that only worked because cells were run out of order fails here too, and prints which test cells
still fail and why. Only the visible tests run: the grade also depends on hidden ones.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

DOCSTRING = re.compile(r"^\s*(?:'''|\"\"\")(.*?)(?:'''|\"\"\")", re.S)


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
    return " ".join((match.group(1) if match else source.strip().splitlines()[0]).split())[:100]


def _last_error_line(error: str) -> str:
    lines = [re.sub(r"\x1b\[[0-9;]*m", "", line).strip() for line in error.splitlines()]
    lines = [line for line in lines if line and not set(line) <= set("-")]
    for line in reversed(lines):
        if re.match(r"^[\w.]*(Error|Exception|Exit)\b", line):
            return line
    return lines[-1] if lines else "failed"


def run_check(notebook: str | Path) -> CheckResult:
    """Validate ``notebook`` in a fresh kernel; what failed, as data."""
    from nbgrader.validator import Validator

    from .grading import Course, _venv_bin_on_path, load_config

    path = Path(notebook).resolve()
    if not path.exists():
        raise FileNotFoundError(f"no notebook at {path}")
    _venv_bin_on_path()
    validator = Validator(config=load_config(Course()))
    validator.ignore_checksums = False
    results = validator.validate(str(path))
    result = CheckResult(path)
    result.type_changed = [_title(c["source"]) for c in results.get("type_changed", [])]
    result.edited_read_only = [_title(c["source"]) for c in results.get("changed", [])]
    result.failed = [(_title(c["source"]), _last_error_line(c.get("raw_error", ""))) for c in results.get("failed", [])]
    return result


def format_result(result: CheckResult) -> str:
    name = result.notebook.name
    if result.ok:
        return f"{name}: every visible test passes from a fresh kernel. The hidden tests may still find problems."
    lines = []
    if result.type_changed:
        lines.append(f"{name}: the type of a graded cell was changed; undo it (Edit > Undo, or copy your code to a fresh release notebook):")
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
