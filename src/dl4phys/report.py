"""The instructor's report: a static HTML page with PNG plots, written by ``python -m dl4phys report``.

``report/index.html`` in the course folder shows, per assignment, the distribution of autograded
scores, the pass rate of every test cell (which hidden tests fail most), the grading time per
student, the score table, and the students the grader flagged (timeouts, kernel deaths, tampering).
"""

from __future__ import annotations

import html
from collections import defaultdict
from pathlib import Path

from .grading import Course, Score, _gradebook, grading_notes, grading_times


def cell_pass_rates(course: Course) -> dict[str, list[tuple[str, float, int]]]:
    """assignment -> [(test cell, fraction of submissions with full points, submissions)] in notebook order."""
    rates: dict[str, list[tuple[str, float, int]]] = {}
    with _gradebook(course) as gb:
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


def _plots(course: Course, rows: list[Score], folder: Path) -> dict[str, list[str]]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import matplotlib.ticker

    folder.mkdir(parents=True, exist_ok=True)
    by_assignment: dict[str, list[Score]] = defaultdict(list)
    for row in rows:
        by_assignment[row.assignment].append(row)
    rates = cell_pass_rates(course)
    times = grading_times(course)
    images: dict[str, list[str]] = {}
    for assignment, scores in sorted(by_assignment.items()):
        names = []
        fig, ax = plt.subplots(figsize=(6, 3.2))
        top = max(s.max_auto_score for s in scores)
        ax.hist([s.auto_score for s in scores], bins=min(20, int(top) + 1), range=(0, top), color="#4c72b0")
        ax.set(xlabel=f"autograded points (of {top:g})", ylabel="students", title=f"{assignment}: scores")
        ax.yaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
        names.append(_save(fig, folder / f"{assignment}-scores.png"))

        cells = rates.get(assignment, [])
        fig, ax = plt.subplots(figsize=(6, 0.35 * len(cells) + 1.2))
        ax.barh([c[0] for c in cells][::-1], [c[1] for c in cells][::-1], color="#55a868")
        ax.set(xlim=(0, 1), xlabel="fraction of students with full points", title=f"{assignment}: test cells")
        names.append(_save(fig, folder / f"{assignment}-cells.png"))

        seconds = sorted((times.get(f"{s.student}/{assignment}", 0.0), s.student) for s in scores)
        fig, ax = plt.subplots(figsize=(6, 3.2))
        ax.bar(range(len(seconds)), [t for t, _ in seconds], color="#c44e52")
        ax.set(xlabel="students (sorted)", ylabel="seconds", title=f"{assignment}: grading time per student")
        names.append(_save(fig, folder / f"{assignment}-times.png"))
        images[assignment] = names
    return images


def _save(fig, path: Path) -> str:
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    import matplotlib.pyplot as plt

    plt.close(fig)
    return path.name


def write_html_report(course: Course, rows: list[Score]) -> Path:
    """Write ``report/index.html`` and its PNG plots into the course folder; return the page's path."""
    folder = course.root / "report"
    images = _plots(course, rows, folder)
    notes = grading_notes(course)
    assignments = sorted({r.assignment for r in rows})
    students = sorted({r.student for r in rows})
    cell = {(r.student, r.assignment): f"{r.auto_score:g} / {r.max_auto_score:g}" for r in rows}
    esc = html.escape
    parts = ["<!doctype html><html><head><meta charset='utf-8'><title>dl4phys grading report</title>",
             "<style>body{font-family:sans-serif;margin:2em;max-width:1100px}table{border-collapse:collapse}"
             "td,th{border:1px solid #ccc;padding:3px 8px;text-align:left}img{margin:4px;border:1px solid #eee}"
             ".flag{color:#a00}</style></head><body>",
             "<h1>Grading report</h1>",
             f"<p>{len(students)} students, {len(assignments)} assignments. Scores are autograded points; "
             "written answers are graded by hand in the formgrader.</p>"]
    for assignment in assignments:
        parts.append(f"<h2>{esc(assignment)}</h2><div>")
        for name in images.get(assignment, []):
            parts.append(f"<img src='{esc(name)}' alt='{esc(name)}' onload=\"this.dataset.loaded='yes'\">")
        parts.append("</div>")
    parts.append("<h2>Scores</h2><table id='scores'><tr><th>student</th>"
                 + "".join(f"<th>{esc(a)}</th>" for a in assignments) + "</tr>")
    for student in students:
        parts.append(f"<tr><td>{esc(student)}</td>"
                     + "".join(f"<td>{esc(cell.get((student, a), '-'))}</td>" for a in assignments) + "</tr>")
    parts.append("</table>")
    parts.append("<h2>Flagged by the grader</h2>")
    if notes:
        parts.append("<table id='flagged'><tr><th>submission</th><th>note (scores are as graded)</th></tr>")
        for key in sorted(notes):
            for note in notes[key]:
                parts.append(f"<tr class='flag'><td>{esc(key)}</td><td>{esc(note)}</td></tr>")
        parts.append("</table>")
    else:
        parts.append("<p id='flagged'>Nothing: no timeouts, kernel deaths or tampering.</p>")
    parts.append("</body></html>")
    page = folder / "index.html"
    page.write_text("\n".join(parts))
    return page
