"""The course command line: ``python -m dl4phys SUBCOMMAND`` (or the ``dl4phys`` script).

    release  [ASSIGNMENT ...]   generate the student versions into release/
    grade    ASSIGNMENT         autograde every submission in submitted/<student>/ASSIGNMENT/ (sandboxed, in parallel)
    feedback ASSIGNMENT         write HTML feedback into feedback/
    report                      print the score table, write grades.csv and report/index.html (plots)
    demo                        all of the above on the demo submissions under tests/submissions/
    check    NOTEBOOK           (students) run the visible tests as the autograder will, say what fails
    readme-table                regenerate the README's lecture table of "open in" badges from release/

Every instructor subcommand takes ``--course-dir`` (where submitted/, autograded/, feedback/ and
gradebook.db live; the repository root by default). Mistakes end with a one-line ``error: ...``.
"""

from __future__ import annotations

import argparse
import os
import sys
from dataclasses import replace
from pathlib import Path

from . import grading
from .grading import Course, CourseError

DEFAULT_DEMO_DIR = grading.REPO_ROOT / "demo"


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def _course(args) -> Course:
    return Course(root=Path(args.course_dir).resolve(), database=getattr(args, "db_url", None))


def _print_outcomes(outcomes) -> int:
    for o in outcomes:
        for note in o.notes:
            print(f"note: {o.student}/{o.assignment}: {note}")
    failed = [o for o in outcomes if not o.ok]
    for o in failed:
        print(f"{o.student}/{o.assignment}: {o.reason}", file=sys.stderr)
    return 1 if failed else 0


def cmd_release(args) -> int:
    done = grading.release(_course(args), args.assignments or None)
    print(f"released {', '.join(done)} into {_course(args).release}")
    return 0


def cmd_grade(args) -> int:
    course = _course(args)
    outcomes = grading.grade(course, args.assignment, args.student or None, unsafe=args.unsafe,
                             workers=args.workers, scheduler=args.scheduler)
    ok = sum(o.ok for o in outcomes)
    print(f"autograded {ok} of {len(outcomes)} submissions of {args.assignment} into {course.autograded}")
    return _print_outcomes(outcomes)


def cmd_feedback(args) -> int:
    course = _course(args)
    outcomes = grading.feedback(course, args.assignment, args.student or None)
    print(f"wrote feedback for {sum(o.ok for o in outcomes)} students into {course.feedback}")
    return _print_outcomes(outcomes)


def cmd_report(args) -> int:
    table, csv_path = grading.report(_course(args))
    print(table)
    print(f"\nwrote {csv_path} and {csv_path.parent / 'report' / 'index.html'}")
    return 0


def cmd_check(args) -> int:
    from .check import format_result, run_check

    path = Path(args.notebook)
    if not path.exists() or path.suffix != ".ipynb":
        raise CourseError(f"{path} is not a notebook file: give the path of your .ipynb")
    try:
        result = run_check(path)
    except Exception as err:  # nbformat/nbgrader raise several kinds for unreadable files
        raise CourseError(f"could not run {path.name}: {err}".splitlines()[0]) from err
    print(format_result(result))
    return 0 if result.ok else 1


def cmd_readme_table(args) -> int:
    from .lectures import update_readme

    try:
        fresh = update_readme(check=args.check)
    except ValueError as err:
        raise CourseError(str(err)) from err
    if args.check and not fresh:
        print("error: the README's lecture table is stale: run `python -m dl4phys readme-table`", file=sys.stderr)
        return 1
    print("the README's lecture table is up to date" if fresh else "rewrote the README's lecture table")
    return 0


def cmd_demo(args) -> int:
    # The demo releases into its own folder: the committed release/ is not rewritten under a running test or editor.
    course = _course(args)
    course = replace(course, release=course.root / "release")
    print(f"demo course directory: {course.root}")
    for assignment in args.assignments:
        course.check_assignment(assignment)
    outcomes, table, csv_path = grading.demo(course, args.assignments or None, unsafe=args.unsafe, workers=args.workers)
    print(table)
    print(f"\nfeedback in {course.feedback}, grades in {csv_path}")
    return _print_outcomes(outcomes)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="dl4phys", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True, metavar="SUBCOMMAND")

    def add(name, func, help_text, course_default=grading.REPO_ROOT):
        p = sub.add_parser(name, help=help_text, description=help_text)
        p.add_argument("--course-dir", default=str(course_default),
                       help=f"folder with submitted/, autograded/, feedback/, gradebook.db (default: {course_default})")
        p.add_argument("--db-url", help="gradebook on a database server, e.g. postgresql+psycopg2://grader@127.0.0.1/dl4phys "
                                        "(default: gradebook.db in the course folder)")
        p.set_defaults(func=func)
        return p

    p = add("release", cmd_release, "generate student versions of assignments into release/")
    p.add_argument("assignments", nargs="*", help="assignment ids (default: all under source/)")
    p = add("grade", cmd_grade, "autograde the submissions of an assignment in the bubblewrap sandbox")
    p.add_argument("assignment")
    p.add_argument("--unsafe", action="store_true",
                   help="run student code without the sandbox (only for code you trust: it gets your rights)")
    p.add_argument("--workers", type=_positive_int, default=os.cpu_count() or 1,
                   help="students graded at once on a local Dask cluster (default: the number of cores)")
    p.add_argument("--scheduler", metavar="ADDRESS",
                   help="grade on an existing Dask cluster instead, e.g. tcp://10.0.0.5:8786 (dask-jobqueue on Slurm/HTCondor)")
    p.add_argument("--student", action="append", help="grade only this student (repeatable)")
    p = add("feedback", cmd_feedback, "write HTML feedback for autograded submissions")
    p.add_argument("assignment")
    p.add_argument("--student", action="append", help="only this student (repeatable)")
    add("report", cmd_report, "print the score table, write grades.csv and an HTML report with plots")
    p = sub.add_parser("readme-table", help="regenerate the README's lecture table (badges) from release/")
    p.add_argument("--check", action="store_true", help="only say whether it is stale (exit 1 if so)")
    p.set_defaults(func=cmd_readme_table)
    p = sub.add_parser("check", help="(students) run a notebook top to bottom in a fresh kernel and list failing tests")
    p.add_argument("notebook")
    p.set_defaults(func=cmd_check)
    p = add("demo", cmd_demo, "release, grade the demo submissions, write feedback and the report", DEFAULT_DEMO_DIR)
    p.add_argument("assignments", nargs="*", help="assignment ids (default: all with demo submissions)")
    p.add_argument("--unsafe", action="store_true", help="grade without the sandbox")
    p.add_argument("--workers", type=_positive_int, default=os.cpu_count() or 1, help="students graded at once")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except CourseError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("error: interrupted; graded submissions so far are in the gradebook, run the command again to finish",
              file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
