"""Does every class in a release notebook still define its methods (no class body that is only a stub)?

nbgrader replaces a solution region by ``raise NotImplementedError()``. A region that spans a class's
methods leaves that line at class-body level: the cell raises as soon as it defines the class, and the
students never see the methods' signatures and docstrings. The house style puts a solution region
inside each method instead; this test reads every code cell of release/ with ``ast`` and checks it.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import nbformat
import pytest

from .conftest import REPO

MAGIC = re.compile(r"^\s*[%!].*$", re.M)  # IPython magics and shell lines are not Python
RELEASE_NOTEBOOKS = sorted((REPO / "release").glob("*/*.ipynb"))


def class_stubs(source: str) -> list[str]:
    """The problems of the classes defined in one code cell, one line each (empty when there are none)."""
    problems = []
    for node in ast.walk(ast.parse(MAGIC.sub("", source))):
        if not isinstance(node, ast.ClassDef):
            continue
        body = node.body[1:] if ast.get_docstring(node) is not None else node.body
        raises = [n for n in body if isinstance(n, ast.Raise)]
        bare = all(
            isinstance(n, (ast.Raise, ast.Pass)) or isinstance(n, ast.Expr) and isinstance(n.value, ast.Constant) for n in body
        )
        if raises:
            problems.append(
                f"class {node.name} raises in its class body (line {raises[0].lineno}): "
                "put the solution region inside each method"
            )
        elif bare:
            problems.append(f"class {node.name} has a bare stub for a body: it defines nothing")
    return problems


def test_class_stubs_finds_a_class_body_stub():
    """Does the check flag nbgrader's stub at class-body level, and accept stubs inside methods?"""
    stub = (
        "class A:\n    '''doc'''\n    def __init__(self):\n        pass\n    # YOUR CODE HERE\n    raise NotImplementedError()\n"
    )
    assert class_stubs(stub) and "raises in its class body" in class_stubs(stub)[0]
    assert class_stubs("class B:\n    '''doc'''\n    pass\n") == ["class B has a bare stub for a body: it defines nothing"]
    good = "class C:\n    '''doc'''\n    def f(self, x):\n        '''doc'''\n        # YOUR CODE HERE\n        raise NotImplementedError()\n"
    assert class_stubs(good) == []
    assert class_stubs("%matplotlib inline\nclass D:\n    x: int = 1\n") == []


def test_release_notebooks_are_found():
    assert RELEASE_NOTEBOOKS, "no notebooks in release/"


@pytest.mark.parametrize("path", RELEASE_NOTEBOOKS, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_release_classes_define_their_methods(path: Path):
    """Does every class in the release notebook's code cells define its methods, with no stub in its body?"""
    problems = []
    for index, cell in enumerate(nbformat.read(path, as_version=4).cells):
        if cell.cell_type == "code":
            grade_id = cell.metadata.get("nbgrader", {}).get("grade_id", f"cell {index}")
            problems += [f"{grade_id}: {problem}" for problem in class_stubs(cell.source)]
    assert not problems, f"{path.relative_to(REPO)}: " + "; ".join(problems)
