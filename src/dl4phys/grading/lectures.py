"""The README's lecture table: one row per released notebook, one "open in" badge per platform.

``python -m dl4phys readme-table`` rewrites the table between the two marker comments of the course's
README.md from its ``release/`` (the course's convention: "This table is automatically generated, do
not fill manually!"); ``--check`` only says whether it is stale. The repository the badges point to is
the ``[tool.dl4phys] student_repository`` setting of the course's pyproject.toml: students open the
notebooks of the students' repository, never the instructor's.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import nbformat

BEGIN = "<!--This table is automatically generated, do not fill manually!-->"
END = "<!--End of table-->"

PLATFORMS = [
    (
        "Colab",
        "https://colab.research.google.com/assets/colab-badge.svg",
        "Open In Colab",
        "https://colab.research.google.com/github/{repo}/blob/{branch}/{path}",
    ),
    (
        "Kaggle",
        "https://kaggle.com/static/images/open-in-kaggle.svg",
        "Kaggle",
        "https://kaggle.com/kernels/welcome?src=https://github.com/{repo}/blob/{branch}/{path}",
    ),
    (
        "Gradient",
        "https://assets.paperspace.io/img/gradient-badge.svg",
        "Gradient",
        "https://console.paperspace.com/github/{repo}/blob/{branch}/{path}",
    ),
    (
        "Studio Lab",
        "https://studiolab.sagemaker.aws/studiolab.svg",
        "Open In SageMaker Studio Lab",
        "https://studiolab.sagemaker.aws/import/github/{repo}/blob/{branch}/{path}",
    ),
]


def repository_setting(pyproject: Path) -> tuple[str, str]:
    """(owner/name, branch) of the students' repository, from pyproject.toml's [tool.dl4phys]."""
    settings = tomllib.loads(Path(pyproject).read_text())["tool"]["dl4phys"]
    url = settings["student_repository"]
    match = re.fullmatch(r"https://github\.com/([\w.-]+/[\w.-]+?)(?:\.git)?/?", url)
    if not match:
        raise ValueError(f"[tool.dl4phys] student_repository must be a https://github.com/OWNER/NAME URL, not {url!r}")
    return match.group(1), settings.get("student_branch", "main")


def notebook_title(path: Path) -> str:
    """The text of the notebook's first markdown heading."""
    for cell in nbformat.read(path, as_version=4).cells:
        if cell.cell_type == "markdown":
            match = re.search(r"^#+\s+(.+)$", cell.source, re.M)
            if match:
                return match.group(1).strip()
    return path.stem.replace("_", " ")


def release_notebooks(release: Path, folder: str = "release") -> list[tuple[str, str]]:
    """(title, path in the repository) of every notebook of a release folder that sits at ``folder`` in its repository."""
    return [
        (notebook_title(path), f"{folder}/{path.relative_to(release).as_posix()}")
        for path in sorted(Path(release).glob("*/*.ipynb"))
    ]


def badge_table(notebooks: list[tuple[str, str]], repo: str, branch: str) -> str:
    """The markdown table of ``notebooks`` ((title, path)) with a badge per platform, opening them in the
    GitHub repository ``repo`` (owner/name) at ``branch``."""
    rows = [("Notebook",) + tuple(name for name, *_ in PLATFORMS)]
    for title, path in notebooks:
        badges = tuple(
            f"[![{alt}]({image})]({link.format(repo=repo, branch=branch, path=path)})" for _, image, alt, link in PLATFORMS
        )
        rows.append((title,) + badges)
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = ["| " + " | ".join(cell.ljust(w) for cell, w in zip(row, widths)) + " |" for row in rows]
    lines.insert(1, "|" + "|".join(":" + "-" * (w + 1) for w in widths) + "|")
    return "\n".join(lines)


def lecture_table(course_root: Path) -> str:
    """The badge table of the release notebooks of the course at ``course_root``, in the students' repository
    (which holds them at the same paths, ``release/<assignment>/``)."""
    repo, branch = repository_setting(Path(course_root) / "pyproject.toml")
    return badge_table(release_notebooks(Path(course_root) / "release"), repo, branch)


def updated_readme(readme: str, table: str) -> str:
    if BEGIN not in readme or END not in readme:
        raise ValueError(f"README.md needs the markers {BEGIN} and {END} around the lecture table")
    head, rest = readme.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    return f"{head}{BEGIN}\n\n{table}\n\n{END}{tail}"


def update_readme(course_root: Path, check: bool = False) -> bool:
    """Rewrite the table of the course's README.md (or, with ``check``, only compare); True when it was up to date."""
    readme_path = Path(course_root) / "README.md"
    readme = readme_path.read_text()
    new = updated_readme(readme, lecture_table(course_root))
    if new == readme:
        return True
    if not check:
        readme_path.write_text(new)
    return False
