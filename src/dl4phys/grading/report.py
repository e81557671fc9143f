"""The instructor's report: the score table with the grader's notes, ``grades.csv``, and ``report/index.html``.

The HTML page (a jinja2 template, ``templates/report.html.j2``) shows per assignment the distribution
of autograded scores, the pass rate of every test cell (which hidden tests fail most) and the grading
time per student (PNG plots), then the score table and the students the grader flagged.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import pandas as pd

from .course import Course, gradebook
from .notes import grading_notes, grading_times, score_table, scores, write_grades_csv


def cell_pass_rates(course: Course) -> dict[str, list[tuple[str, float, int]]]:
    """assignment -> [(test cell, fraction of submissions with full points, submissions)] in notebook order."""
    rates: dict[str, list[tuple[str, float, int]]] = {}
    with gradebook(course) as gb:
        for assignment in gb.assignments:
            passed: dict[str, list[bool]] = defaultdict(list)
            order: list[str] = []
            for submission in assignment.submissions:
                for notebook in submission.notebooks:
                    for grade in notebook.grades:
                        if grade.cell.cell_type != "code" or grade.auto_score is None:
                            continue
                        if grade.name not in passed:
                            order.append(grade.name)
                        passed[grade.name].append(grade.auto_score >= grade.max_score)
            rates[assignment.name] = [(name, sum(passed[name]) / len(passed[name]), len(passed[name])) for name in order]
    return rates


def _save(fig, path: Path) -> str:
    import matplotlib.pyplot as plt

    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path.name


def _plots(course: Course, table: pd.DataFrame, folder: Path) -> dict[str, list[str]]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import matplotlib.ticker

    folder.mkdir(parents=True, exist_ok=True)
    rates = cell_pass_rates(course)
    times = grading_times(course)
    images: dict[str, list[str]] = {}
    for assignment, rows in table.groupby("assignment"):
        names = []
        fig, ax = plt.subplots(figsize=(6, 3.2))
        top = float(rows.max_auto_score.max())
        ax.hist(rows.auto_score, bins=min(20, int(top) + 1), range=(0, top), color="#4c72b0")
        ax.set(xlabel=f"autograded points (of {top:g})", ylabel="students", title=f"{assignment}: scores")
        ax.yaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
        names.append(_save(fig, folder / f"{assignment}-scores.png"))

        cells = rates.get(assignment, [])
        fig, ax = plt.subplots(figsize=(6, 0.35 * len(cells) + 1.2))
        ax.barh([c[0] for c in cells][::-1], [c[1] for c in cells][::-1], color="#55a868")
        ax.set(xlim=(0, 1), xlabel="fraction of students with full points", title=f"{assignment}: test cells")
        names.append(_save(fig, folder / f"{assignment}-cells.png"))

        seconds = sorted((times.get(f"{s}/{assignment}", 0.0), s) for s in rows.student)
        fig, ax = plt.subplots(figsize=(6, 3.2))
        ax.bar(range(len(seconds)), [t for t, _ in seconds], color="#c44e52")
        ax.set(xlabel="students (sorted)", ylabel="seconds", title=f"{assignment}: grading time per student")
        names.append(_save(fig, folder / f"{assignment}-times.png"))
        images[str(assignment)] = names
    return images


def write_html_report(course: Course, table: pd.DataFrame) -> Path:
    """Write ``report/index.html`` and its PNG plots into the course folder; return the page's path."""
    import jinja2

    folder = course.root / "report"
    environment = jinja2.Environment(
        loader=jinja2.PackageLoader("dl4phys.grading", "templates"), autoescape=jinja2.select_autoescape(["html", "j2"])
    )
    page = folder / "index.html"
    images = _plots(course, table, folder)
    cells = {(r.student, r.assignment): f"{r.auto_score:g} / {r.max_auto_score:g}" for r in table.itertuples()}
    page.write_text(
        environment.get_template("report.html.j2").render(
            assignments=sorted(table.assignment.unique()),
            students=sorted(table.student.unique()),
            images=images,
            cells=cells,
            notes=grading_notes(course),
        )
    )
    return page


def report(course: Course, html: bool = True) -> tuple[str, Path]:
    """The score table as text (with the grader's notes); writes grades.csv and report/index.html."""
    table = scores(course)
    path = write_grades_csv(table, course.root / "grades.csv")
    if html and not table.empty:
        write_html_report(course, table)
    text = score_table(table)
    notes = grading_notes(course)
    if notes:
        text += "\n\nTo look at (scores are as graded; nothing here changed them):\n"
        text += "\n".join(f"  {key}: {note}" for key in sorted(notes) for note in notes[key])
    return text, path
