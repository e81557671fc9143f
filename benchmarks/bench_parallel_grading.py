"""Grading throughput: nbgrader's own serial autograde against `grade --workers N`, side by side.

Grades the same 16 submissions of the CPU-light assignments (copies of the demo submissions of
hw02_gradient_descent and hw03_backprop) twice, in fresh scratch courses, with the same sandboxed
configuration, and prints both wall-clock times and their ratio.

    .venv/bin/python benchmarks/bench_parallel_grading.py [--workers 2] [--submissions 16]
"""

from __future__ import annotations

import argparse
import itertools
import os
import tempfile
import time
from pathlib import Path

from dl4phys import grading, sandbox

ASSIGNMENTS = ["hw02_gradient_descent", "hw03_backprop"]


def _course(root: Path, n: int) -> tuple[grading.Course, dict[str, list[str]]]:
    course = grading.Course(root=root, release=root / "release")
    grading.release(course, ASSIGNMENTS)
    students: dict[str, list[str]] = {a: [] for a in ASSIGNMENTS}
    cases = itertools.cycle([(a, c, p) for a in ASSIGNMENTS for c, p in grading.demo_cases(a).items()])
    for i in range(n):
        assignment, case, folder = next(cases)
        student = f"student{i:03d}-{case}"
        dest = course.submitted / student / assignment
        dest.mkdir(parents=True)
        for notebook in folder.glob("*.ipynb"):
            (dest / notebook.name).write_bytes(notebook.read_bytes())
        students[assignment].append(student)
    return course, students


def serial_nbgrader(course: grading.Course, students: dict[str, list[str]], unsafe: bool) -> float:
    """nbgrader's Autograde over all students of each assignment, one after another."""
    overrides = grading.sandbox_overrides(course, unsafe)
    course = grading.replace(course, config_overrides=grading._merged(course.config_overrides, overrides))
    api = grading.nbgrader_api(course)
    start = time.perf_counter()
    for assignment in ASSIGNMENTS:
        result = api.autograde(assignment, "*", force=True, create=True)
        assert result["success"], result.get("log", "")[-2000:]
    return time.perf_counter() - start


def parallel_grade(course: grading.Course, students: dict[str, list[str]], unsafe: bool, workers: int) -> float:
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
    with tempfile.TemporaryDirectory() as tmp:
        serial_course, students = _course(Path(tmp) / "serial", args.submissions)
        parallel_course, _ = _course(Path(tmp) / "parallel", args.submissions)
        for assignment in ASSIGNMENTS:  # both start from a gradebook that knows the assignments
            grading._ensure_in_gradebook(serial_course, assignment)
        t_serial = serial_nbgrader(serial_course, students, unsafe)
        t_parallel = parallel_grade(parallel_course, students, unsafe, args.workers)
    print(f"submissions: {args.submissions} ({', '.join(ASSIGNMENTS)}), cores: {os.cpu_count()}, "
          f"sandbox: {'off' if unsafe else 'bubblewrap'}")
    print(f"nbgrader autograde, serial : {t_serial:7.1f} s  ({t_serial / args.submissions:.1f} s per submission)")
    print(f"grade --workers {args.workers:<2}        : {t_parallel:7.1f} s  ({t_parallel / args.submissions:.1f} s per submission)")
    print(f"speed-up                  : {t_serial / t_parallel:7.2f}x")


if __name__ == "__main__":
    main()
