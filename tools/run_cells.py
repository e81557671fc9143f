"""Run notebooks' code cells in order, in this process, and report each autograded test cell.

For a machine without Jupyter or nbgrader (a bare GPU node): executes the *source* notebooks, so the
hidden tests run too, and prints per test cell pass/fail, points and seconds, and the device torch
sees. Exit status 1 when a test cell fails. The real grading path is ``make test-gpu``.

    python tools/run_cells.py source/hw02_gradient_descent/gradient_descent.ipynb [...]
"""

from __future__ import annotations

import json
import os
import re
import sys
import time
import traceback
from pathlib import Path

MAGIC = re.compile(r"^\s*[%!].*$", re.M)


def run_notebook(path: Path) -> tuple[float, float, list[str]]:
    cells = json.loads(path.read_text())["cells"]
    namespace = {"__name__": "__main__"}
    scored = total = 0.0
    lines = []
    old_cwd = os.getcwd()
    os.chdir(path.parent)
    started = time.perf_counter()
    try:
        for cell in cells:
            if cell["cell_type"] != "code":
                continue
            meta = cell.get("metadata", {}).get("nbgrader", {})
            source = MAGIC.sub("", "".join(cell["source"]))
            t0 = time.perf_counter()
            try:
                exec(compile(source, f"<{meta.get('grade_id', 'cell')}>", "exec"), namespace)
                error = ""
            except Exception as err:  # a failing cell is reported, the notebook goes on (as nbgrader does)
                error = f"{type(err).__name__}: {err}".splitlines()[0][:200]
                if not meta.get("grade"):
                    traceback.print_exc(limit=2)
            if meta.get("grade") and not meta.get("solution"):
                points = float(meta.get("points", 0))
                total += points
                scored += 0 if error else points
                lines.append(
                    f"  {'PASS' if not error else 'FAIL'} {meta['grade_id']:<40} {points:g} pt  "
                    f"{time.perf_counter() - t0:6.2f} s  {error}"
                )
    finally:
        os.chdir(old_cwd)
    lines.append(f"  total {scored:g}/{total:g} points in {time.perf_counter() - started:.1f} s")
    return scored, total, lines


def main(paths: list[str]) -> int:
    import torch

    print(f"torch {torch.__version__}, device: {torch.cuda.get_device_name(0) if torch.cuda.is_available() else 'cpu'}")
    failed = False
    for path in map(Path, paths):
        scored, total, lines = run_notebook(path.resolve())
        print(path)
        print("\n".join(lines))
        failed |= scored < total
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
