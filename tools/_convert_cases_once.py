"""One-time: committed demo/hostile notebooks -> case TOML files (diff against the solution build)."""
import json
import sys
from pathlib import Path

import nbformat

sys.path.insert(0, "/work/main/src")
from dl4phys.grading.cases import _grade_id, answered

ROOT = Path("/work/main")

def toml_str(s):
    s = s.strip("\n")
    if "'''" in s:
        return json.dumps(s)
    return "'''\n" + s + "\n'''"

def convert(nb_path: Path, assignment: str, score, why, note="", out: Path=None):
    release = next((ROOT/"release"/assignment).glob("*.ipynb"))
    source = ROOT/"source"/assignment/release.name
    try:
        student = nbformat.read(nb_path, as_version=4)
    except Exception:
        raw = nb_path.read_text()
        return f'base = "solution"\nscore = {json.dumps(score)}\nwhy = {json.dumps(why)}\nnote = {json.dumps(note)}\n\n[[edits]]\nraw = {toml_str(raw)}\n', []
    rel = nbformat.read(release, as_version=4)
    src = {_grade_id(c): c for c in nbformat.read(source, as_version=4).cells if _grade_id(c)}
    sol = {}
    blank = {}
    for c in rel.cells:
        g = _grade_id(c)
        if not g: continue
        blank[g] = c.source
        sol[g] = answered(c, src[g]) if c.metadata["nbgrader"].get("solution") else c.source
    s_ids = [_grade_id(c) for c in student.cells]
    # decide base: fewer differences
    def diffs(base):
        d = {}
        for c in student.cells:
            g = _grade_id(c)
            if g in base and c.source.strip("\n") != base[g].strip("\n") and c.metadata.get("nbgrader",{}).get("solution"):
                d[g] = c.source
        return d
    ds, db = diffs(sol), diffs(blank)
    base, d = ("solution", ds) if len(ds) <= len(db) else ("release", db)
    problems = []
    r_ids = [_grade_id(c) for c in rel.cells]
    if [g for g in s_ids if g] != [g for g in r_ids if g]:
        problems.append(f"structure differs: {set(r_ids)^set(s_ids)} dup={len(s_ids)-len(set(s_ids))}")
    for c in student.cells:
        g = _grade_id(c)
        if g in sol and not c.metadata.get("nbgrader",{}).get("solution") and c.source.strip("\n") != sol[g].strip("\n"):
            problems.append(f"locked cell {g} differs")
        if g is None and c.cell_type=="code" and c.source.strip() and c.source.strip() not in [x.source.strip() for x in rel.cells]:
            problems.append(f"extra ungraded cell: {c.source[:60]!r}")
    text = f'base = "{base}"\nscore = {json.dumps(score)}\nwhy = {json.dumps(why)}\n'
    if note: text += f'note = {json.dumps(note)}\n'
    if d:
        text += "\n[cells]\n" + "".join(f"{g} = {toml_str(s)}\n" for g, s in d.items())
    return text, problems

if __name__ == "__main__":
    pass
