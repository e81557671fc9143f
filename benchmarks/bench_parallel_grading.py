"""Grading throughput and overhead, measured side by side in one run.

Grades the same submissions (the demo cases of the CPU-light hw02_gradient_descent and hw03_backprop,
repeated up to ``--submissions``) three ways, each in a fresh scratch course:

1. plain nbgrader: ``nbgrader autograde`` with nbgrader's own preprocessors and an ordinary kernel
   (what a default nbgrader course runs; the kernel's report decides);
2. this course, one worker: ``grade --workers 1``, in the bubblewrap sandbox, every hidden test judged
   outside the kernel, the reference records of each assignment computed once (included in the time);
3. this course, ``--workers N`` on a local Dask cluster.

It prints the three wall-clock times, the overhead of the sandbox and the judges (2 / 1) and the
parallel speed-up (1 / 3).

    .venv/bin/python benchmarks/bench_parallel_grading.py [--workers 2] [--submissions 16]
"""

from __future__ import annotations

import argparse
import itertools
import os
import shutil
import tempfile
import time
from pathlib import Path

from dl4phys import grading, sandbox
from dl4phys.grading.cases import build_case, cases_in

ROOT = Path(__file__).resolve().parents[1]
ASSIGNMENTS = ["hw02_gradient_descent", "hw03_backprop"]


def _course(root: Path, n: int, **overrides) -> tuple[grading.Course, dict[str, list[str]]]:
    course = grading.Course(
        root=root,
        source=ROOT / "source",
        config_file=ROOT / "nbgrader_config.py",
        cases=ROOT / "tests" / "submissions",
        overrides=overrides,
    )
    grading.release(course, ASSIGNMENTS)
    students: dict[str, list[str]] = {a: [] for a in ASSIGNMENTS}
    cases = itertools.cycle([(a, c, p) for a in ASSIGNMENTS for c, p in cases_in(course.cases / a).items()])
    for i in range(n):
        assignment, case, path = next(cases)
        student = f"student{i:03d}-{case}"
        build_case(path, course.release / assignment, course.source / assignment, course.submitted / student / assignment)
        students[assignment].append(student)
    return course, students


def plain_nbgrader(root: Path, n: int) -> float:
    """nbgrader's own autograde (its default preprocessors, an ordinary python3 kernel), serially."""
    from nbgrader.converters import Autograde

    defaults = Autograde()
    plain = {
        "Autograde": {
            "sanitize_preprocessors": list(defaults.sanitize_preprocessors),
            "autograde_preprocessors": list(defaults.autograde_preprocessors),
        },
        "Execute": {"extra_arguments": ["--HistoryManager.hist_file=:memory:"]},
    }
    course, _ = _course(root, n, **plain)
    api = grading.nbgrader_api(course)
    start = time.perf_counter()
    for assignment in ASSIGNMENTS:
        result = api.autograde(assignment, "*", force=True, create=True)
        assert result["success"], result.get("log", "")[-2000:]
    return time.perf_counter() - start


def course_grade(root: Path, n: int, workers: int, unsafe: bool) -> float:
    course, students = _course(root, n)
    start = time.perf_counter()
    for assignment in ASSIGNMENTS:
        outcomes = grading.grade(course, assignment, students[assignment], unsafe=unsafe, workers=workers)
        assert all(o.ok for o in outcomes), [o for o in outcomes if not o.ok]
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--submissions", type=int, default=16)
    args = parser.parse_args()
    unsafe = sandbox.bwrap_path() is None
    scratch = Path(tempfile.mkdtemp(prefix="dl4phys-bench-"))
    references = scratch / "references"
    os.environ.setdefault("DL4PHYS_HIDDEN_DATA", str(ROOT / "hidden_data"))
    try:
        t_plain = plain_nbgrader(scratch / "plain", args.submissions)
        # A fresh reference cache, so the judged runs pay for computing the references once.
        os.environ["XDG_CACHE_HOME"] = str(references)
        t_serial = course_grade(scratch / "serial", args.submissions, 1, unsafe)
        t_parallel = course_grade(scratch / "parallel", args.submissions, args.workers, unsafe)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    print(
        f"submissions: {args.submissions} ({', '.join(ASSIGNMENTS)}), cores: {os.cpu_count()}, "
        f"sandbox: {'off' if unsafe else 'bubblewrap'}"
    )
    print(f"plain nbgrader autograde, serial      : {t_plain:7.1f} s  ({t_plain / args.submissions:.1f} s per submission)")
    print(f"grade --workers 1 (sandbox and judges) : {t_serial:7.1f} s  (references computed once, included)")
    print(f"grade --workers {args.workers:<2}                    : {t_parallel:7.1f} s")
    print(f"overhead of sandbox and judges         : {t_serial / t_plain:7.2f}x")
    print(f"parallel speed-up over plain nbgrader  : {t_plain / t_parallel:7.2f}x")


if __name__ == "__main__":
    main()
