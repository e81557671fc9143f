"""The course command line: ``python -m dl4phys SUBCOMMAND`` (or the ``dl4phys`` script).

For students:

    check    NOTEBOOK           run the notebook top to bottom in a fresh kernel, say which visible tests fail

For instructors, in the course's folder (or with ``--course-dir``):

    release  [ASSIGNMENT ...]   generate the student versions into release/
    grade    ASSIGNMENT ...     autograde every submission in submitted/<student>/ASSIGNMENT/ (sandboxed, in parallel)
    feedback ASSIGNMENT         write HTML feedback into feedback/
    report                      print the score table, write grades.csv and report/index.html (plots)
    demo     [ASSIGNMENT ...]   all of the above on the demo submissions of tests/submissions/, in ./demo
    readme-table                regenerate the README's lecture table of "open in" badges from release/
    publish  DEST               write the students' repository (release/, the student package, README) into DEST

Mistakes end with a one-line ``error: ...``.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path


class UsageError(Exception):
    """A mistake the user can fix (printed on one line)."""


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def cmd_check(args) -> int:
    from .check import format_result, run_check

    path = Path(args.notebook)
    if not path.exists() or path.suffix != ".ipynb":
        raise UsageError(f"{path} is not a notebook file: give the path of your .ipynb")
    try:
        result = run_check(path)
    except Exception as err:  # nbformat/nbclient raise several kinds for unreadable files
        raise UsageError(f"could not run {path.name}: {err}".splitlines()[0]) from err
    print(format_result(result))
    return 0 if result.ok else 1


# ------------------------------------------------------------------------------------- instructors
def _course(args):
    from .grading import Course

    return Course.at(args.course_dir, database=getattr(args, "db_url", None))


def _print_outcomes(outcomes) -> int:
    for o in outcomes:
        for note in o.notes:
            print(f"note: {o.student}/{o.assignment}: {note}")
    failed = [o for o in outcomes if not o.ok]
    for o in failed:
        print(f"{o.student}/{o.assignment}: {o.reason}", file=sys.stderr)
    return 1 if failed else 0


def cmd_release(args) -> int:
    from .grading import release

    course = _course(args)
    done = release(course, args.assignments or None)
    print(f"released {', '.join(done)} into {course.release}")
    return 0


def cmd_grade(args) -> int:
    from .grading import grade_assignments

    course = _course(args)
    # Several assignments share one run (and one Dask cluster): no worker idles between two of them.
    outcomes = grade_assignments(
        course,
        {assignment: args.student or None for assignment in args.assignment},
        unsafe=args.unsafe,
        workers=args.workers,
        scheduler=args.scheduler,
    )
    for assignment in args.assignment:
        mine = [o for o in outcomes if o.assignment == assignment]
        print(f"autograded {sum(o.ok for o in mine)} of {len(mine)} submissions of {assignment} into {course.autograded}")
    return _print_outcomes(outcomes)


def cmd_feedback(args) -> int:
    from .grading import feedback

    course = _course(args)
    outcomes = feedback(course, args.assignment, args.student or None)
    print(f"wrote feedback for {sum(o.ok for o in outcomes)} students into {course.feedback}")
    return _print_outcomes(outcomes)


def cmd_report(args) -> int:
    from .grading import report

    table, csv_path = report(_course(args))
    print(table)
    print(f"\nwrote {csv_path} and {csv_path.parent / 'report' / 'index.html'}")
    return 0


def cmd_demo(args) -> int:
    from .grading import Course, demo

    course = Course.at(args.course_dir)
    # The demo grades in its own folder: the course's release/ and student data are never touched.
    out = Path(args.out or course.root / "demo").resolve()
    demo_course = Course(
        root=out, source=course.source, release=out / "release", config_file=course.config_file, cases=course.cases
    )
    for assignment in args.assignments:
        demo_course.check_assignment(assignment)
    print(f"demo course folder: {out}")
    outcomes, table, csv_path = demo(demo_course, args.assignments or None, unsafe=args.unsafe, workers=args.workers)
    print(table)
    print(f"\nfeedback in {demo_course.feedback}, grades in {csv_path}")
    return _print_outcomes(outcomes)


def cmd_readme_table(args) -> int:
    from .grading.lectures import update_readme

    try:
        fresh = update_readme(Path(args.course_dir or os.getcwd()), check=args.check)
    except (ValueError, OSError, KeyError) as err:
        raise UsageError(str(err)) from err
    if args.check and not fresh:
        print("error: the README's lecture table is stale: run `python -m dl4phys readme-table`", file=sys.stderr)
        return 1
    print("the README's lecture table is up to date" if fresh else "rewrote the README's lecture table")
    return 0


def cmd_publish(args) -> int:
    from .grading.publish import publish

    done = publish(_course(args), args.dest)
    if done.commit:
        print(f"published {done.files} files into {done.dest} and committed {done.commit}: {done.message}")
    elif (done.dest / ".git").is_dir():
        print(f"published {done.files} files into {done.dest}: nothing changed since the last publish")
    else:
        print(f"published {done.files} files into {done.dest} (not a git clone: nothing committed)")
    return 0


def _instructor_commands(sub) -> None:
    def add(name, func, help_text):
        p = sub.add_parser(name, help=help_text, description=help_text)
        p.add_argument(
            "--course-dir",
            default=None,
            help="the course's folder (source/, nbgrader_config.py, submitted/, ...); default: the current folder",
        )
        p.set_defaults(func=func)
        return p

    def database(p):
        p.add_argument(
            "--db-url",
            help="gradebook on a database server, e.g. postgresql+psycopg2://grader@127.0.0.1/dl4phys "
            "(default: gradebook.db in the course folder)",
        )

    p = add("release", cmd_release, "generate student versions of assignments into release/")
    p.add_argument("assignments", nargs="*", help="assignment ids (default: all under source/)")
    database(p)
    p = add("grade", cmd_grade, "autograde the submissions of one or more assignments in the bubblewrap sandbox")
    p.add_argument("assignment", nargs="+")
    p.add_argument(
        "--unsafe",
        action="store_true",
        help="run student code without the sandbox (only for code you trust: it gets your rights)",
    )
    p.add_argument(
        "--workers",
        type=_positive_int,
        default=os.cpu_count() or 1,
        help="students graded at once on a local Dask cluster (default: the number of cores)",
    )
    p.add_argument(
        "--scheduler",
        metavar="ADDRESS",
        help="grade on an existing Dask cluster instead, e.g. tcp://10.0.0.5:8786 (dask-jobqueue on Slurm/HTCondor)",
    )
    p.add_argument("--student", action="append", help="grade only this student (repeatable)")
    database(p)
    p = add("feedback", cmd_feedback, "write HTML feedback for autograded submissions")
    p.add_argument("assignment")
    p.add_argument("--student", action="append", help="only this student (repeatable)")
    database(p)
    p = add("report", cmd_report, "print the score table, write grades.csv and an HTML report with plots")
    database(p)
    p = add("demo", cmd_demo, "release, grade the demo submissions, write feedback and the report, in ./demo")
    p.add_argument("assignments", nargs="*", help="assignment ids (default: all with demo submissions)")
    p.add_argument("--out", help="the demo's own course folder (default: demo/ in the course folder)")
    p.add_argument("--unsafe", action="store_true", help="grade without the sandbox")
    p.add_argument("--workers", type=_positive_int, default=os.cpu_count() or 1, help="students graded at once")
    p = add("readme-table", cmd_readme_table, "regenerate the README's lecture table (badges) from release/")
    p.add_argument("--check", action="store_true", help="only say whether it is stale (exit 1 if so)")
    p = add("publish", cmd_publish, "write the students' repository into DEST (an empty folder or a clone of it) and commit")
    p.add_argument("dest", help="an empty folder, or a clone of the students' repository ([tool.dl4phys] student_repository)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="dl4phys", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True, metavar="SUBCOMMAND")
    p = sub.add_parser("check", help="(students) run a notebook top to bottom in a fresh kernel and list failing tests")
    p.add_argument("notebook")
    p.set_defaults(func=cmd_check)
    try:
        import dl4phys.grading  # noqa: F401 (absent from the students' copy of the package)
    except ImportError:
        return parser
    _instructor_commands(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    errors: tuple = (UsageError,)
    try:
        from .grading import CourseError

        errors += (CourseError,)
    except ImportError:
        pass
    try:
        return args.func(args)
    except errors as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(
            "error: interrupted; graded submissions so far are in the gradebook, run the command again to finish", file=sys.stderr
        )
        return 130


if __name__ == "__main__":
    sys.exit(main())
