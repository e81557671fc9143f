"""Judge an assignment's cases quickly, without nbgrader or a sandbox: for writing probes and cases.

Runs the source notebook (the reference records) and each case of ``tests/submissions/<assignment>/``
(built from its ``.toml`` patch) in a fresh Python process each, on this machine's device, then
judges every test cell as the grader does (:func:`dl4phys.judging.judge.judge_cell`) and prints
per case the points of every test cell, the total, and the expected score::

    python tools/judge_notebooks.py hw02_gradient_descent              # every case
    python tools/judge_notebooks.py hw02_gradient_descent perfect blank -j 2

Test cells without probes are scored as the kernel reports them (pass when they raise nothing).
The real grading path is ``python -m dl4phys grade``.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MAGIC = re.compile(r"^\s*[%!].*$", re.M)


def execute(notebook: Path, records: Path, log: Path) -> None:
    """(child process) Run the code cells in order; write {grade_id: error or ''} to records/cells.json."""
    import contextlib

    os.environ["DL4PHYS_RECORDS"] = str(records)
    cells = json.loads(notebook.read_text())["cells"]
    namespace = {"__name__": "__main__"}
    status = {}
    os.chdir(notebook.parent)
    with open(log, "w") as out, contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
        for cell in cells:
            if cell["cell_type"] != "code":
                continue
            grade_id = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
            source = MAGIC.sub("", "".join(cell["source"]))
            try:
                exec(compile(source, f"<{grade_id or 'cell'}>", "exec"), namespace)
                error = ""
            except BaseException as err:
                error = f"{type(err).__name__}: {err}".splitlines()[0][:200] if str(err) else type(err).__name__
                print(f"[{grade_id}] {error}")
            if grade_id:
                status[grade_id] = error
    (records / "cells.json").write_text(json.dumps(status))


def _with_source_tests(submitted: Path, source: Path) -> Path:
    """The submission as the grader runs it: read-only cells (tests with their hidden part) from the source."""
    import nbformat

    locked = {
        c.metadata["nbgrader"]["grade_id"]: c.source
        for c in nbformat.read(source, as_version=4).cells
        if c.metadata.get("nbgrader", {}).get("locked")
    }
    try:
        notebook = nbformat.read(submitted, as_version=4)
    except Exception:  # not a notebook: graded as nothing run
        submitted.with_suffix(".graded.ipynb").write_text(json.dumps({"cells": []}))
        return submitted.with_suffix(".graded.ipynb")
    for cell in notebook.cells:
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
        if grade_id in locked:
            cell.source = locked[grade_id]
    graded = submitted.with_suffix(".graded.ipynb")
    nbformat.write(notebook, graded)
    return graded


def run(notebook: Path, workdir: Path) -> tuple[Path, float]:
    records = workdir / "records"
    records.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    subprocess.run(
        [sys.executable, __file__, "--execute", str(notebook), str(records), str(workdir / "log.txt")],
        check=False,
        env=dict(os.environ, MPLBACKEND="Agg"),
    )
    return records, time.perf_counter() - started


def judge(source: Path, reference: Path, student: Path, labels, tiers) -> list[tuple[str, float, float, str]]:
    import nbformat

    from dl4phys.judging.auc import tiered_auc_scorer
    from dl4phys.judging.judge import judge_cell
    from dl4phys.judging.records import RecordError, file_name, read_records

    kernel = json.loads((student / "cells.json").read_text()) if (student / "cells.json").exists() else {}
    rows = []
    for cell in nbformat.read(source, as_version=4).cells:
        meta = cell.metadata.get("nbgrader", {})
        if not (meta.get("grade") and cell.cell_type == "code"):
            continue
        grade_id, points = meta["grade_id"], float(meta.get("points", 0))
        ref_file = reference / file_name(grade_id)
        if not ref_file.exists():
            error = kernel.get(grade_id, "not run")
            rows.append((grade_id, 0.0 if error else points, points, f"(kernel) {error}" if error else "(kernel) ok"))
            continue
        try:
            student_records = read_records(student / file_name(grade_id))
        except RecordError as err:
            student_records = err
        scorer = tiered_auc_scorer(labels, tiers[grade_id]) if labels is not None and grade_id in tiers else None
        verdict = judge_cell(read_records(ref_file), student_records, points, scorer)
        rows.append((grade_id, verdict.points, points, verdict.message()))
    return rows


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("assignment")
    parser.add_argument("cases", nargs="*", help="case names (default: all)")
    parser.add_argument("-j", "--jobs", type=int, default=2)
    args = parser.parse_args(argv)

    import numpy as np
    from traitlets.config.loader import PyFileConfigLoader

    from dl4phys.grading.cases import build_case, cases_in

    source_folder = ROOT / "source" / args.assignment
    release_folder = ROOT / "release" / args.assignment
    case_files = cases_in(ROOT / "tests" / "submissions" / args.assignment)
    names = args.cases or list(case_files)
    config = PyFileConfigLoader("nbgrader_config.py", path=str(ROOT)).load_config()
    tiers = dict(config.get("JudgeTestCells", {}).get("auc_tiers", {})).get(args.assignment, {})
    labels_file = ROOT / "hidden_data" / "test_labels.npy"
    labels = np.load(labels_file) if labels_file.exists() else None
    work = Path(tempfile.mkdtemp(prefix=f"judge-{args.assignment}-"))
    # As in the grader's sandbox: kernels see the hidden split's inputs, never its labels, and the
    # cores are shared out among the parallel notebooks (OpenMP threads spinning on a busy machine
    # can make a small training loop a hundred times slower).
    inputs_only = work / "hidden_inputs"
    inputs_only.mkdir()
    if (ROOT / "hidden_data" / "test_inputs.h5").exists():
        (inputs_only / "test_inputs.h5").symlink_to(ROOT / "hidden_data" / "test_inputs.h5")
    os.environ["DL4PHYS_HIDDEN_DATA"] = str(inputs_only)
    os.environ.setdefault("OMP_NUM_THREADS", str(max(1, (os.cpu_count() or 1) // args.jobs)))
    source_nb = next(source_folder.glob("*.ipynb"))
    jobs = [("(reference)", source_nb, work / "reference")]
    for name in names:
        build_case(case_files[name], release_folder, source_folder, work / name / "submission")
        jobs.append((name, _with_source_tests(next((work / name / "submission").glob("*.ipynb")), source_nb), work / name))
    with ThreadPoolExecutor(args.jobs) as pool:
        results = dict(zip([j[0] for j in jobs], pool.map(lambda j: run(j[1], j[2]), jobs)))
    reference = results["(reference)"][0]
    print(f"work folder: {work} (logs: <case>/log.txt); reference ran in {results['(reference)'][1]:.0f} s")
    failed = False
    for name in ["(reference)"] + names:
        rows = judge(source_nb, reference, results[name][0], labels, tiers)
        total, full = sum(r[1] for r in rows), sum(r[2] for r in rows)
        expected = (
            "full"
            if name == "(reference)"
            else __import__("dl4phys.grading.cases", fromlist=["x"]).load_case(case_files[name]).score
        )
        ok = (total == full) if expected == "full" else (total < full if isinstance(expected, str) else total == expected)
        failed |= not ok
        print(f"\n{name}: {total:g}/{full:g} (expected {expected}) {'OK' if ok else 'MISMATCH'}  [{results[name][1]:.0f} s]")
        for grade_id, points, maximum, message in rows:
            print(f"  {points:>4g}/{maximum:<3g} {grade_id:<36} {message[:150]}")
    return 1 if failed else 0


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--execute":
        execute(Path(sys.argv[2]), Path(sys.argv[3]), Path(sys.argv[4]))
    else:
        sys.exit(main())
