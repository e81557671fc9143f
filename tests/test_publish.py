"""Is the students' repository (`python -m dl4phys publish DEST`) what students need, and nothing of the instructor's?"""

from __future__ import annotations

import sqlite3
import subprocess
import tomllib
from pathlib import Path

import pytest

from dl4phys import cli, grading
from dl4phys.data import generate
from dl4phys.grading import lectures
from dl4phys.grading import publish as pub

from .conftest import REPO


@pytest.fixture(scope="module")
def course() -> grading.Course:
    return grading.Course.at(REPO)


def _git(folder: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(folder), *args], capture_output=True, text=True, check=True).stdout.strip()


def test_published_repository_holds_nothing_of_the_instructors(course, published):
    """Does a scan of every published file find no instructor's folder, marker, solution or hidden-test
    line, copy of hidden_data/, tests/ or a gradebook, instructor's URL, or the hidden split's seed?"""
    tree = pub.folder_tree(published)
    assert pub.leaks(course, tree) == []
    assert pub.secret_lines(course), "source/ should have solutions and hidden tests to look for"
    assert {path.split("/")[0] for path in tree} == {
        ".gitignore",
        "LICENSE",
        "README.md",
        "environment.yml",
        "pyproject.toml",
        "release",
        "requirements.txt",
        "src",
    }
    package = sorted(path.removeprefix("src/dl4phys/") for path in tree if path.startswith("src/"))
    assert package == sorted(pub.STUDENT_PACKAGE)
    released = {p.relative_to(REPO).as_posix(): p.read_bytes() for p in sorted((REPO / "release").glob("*/*.ipynb"))}
    assert {path: data for path, data in tree.items() if path.startswith("release/")} == released
    assert str(generate.hidden_split_seed(REPO / "hidden_data")).encode() not in b"".join(tree.values())


def test_published_repository_points_to_itself(course, published):
    """Do the README's badges, the pyproject and the environment files name the students' repository and
    install no instructor's package?"""
    found = pub.settings(course)
    readme = (published / "README.md").read_text()
    assert readme.startswith(pub.MARKER)
    for path in sorted((published / "release").glob("*/*.ipynb")):
        rel = path.relative_to(published).as_posix()
        assert f"https://colab.research.google.com/github/{found.student_repo}/blob/{found.student_branch}/{rel}" in readme
        assert readme.count(rel) == len(lectures.PLATFORMS)
    assert f"git clone {found.student_url}.git" in readme
    project = tomllib.loads((published / "pyproject.toml").read_text())["project"]
    assert project["name"] == "dl4phys" and project["urls"]["Homepage"] == found.student_url
    installed = project["dependencies"] + project["optional-dependencies"]["notebooks"]
    installed += (published / "requirements.txt").read_text().splitlines() + (
        published / "environment.yml"
    ).read_text().splitlines()
    for name in pub.INSTRUCTOR_PACKAGES:
        assert not any(line.strip(" -").startswith(f"{name}==") for line in installed), name
    assert any(pin.startswith("fastjet==") for pin in project["optional-dependencies"]["notebooks"]), (
        "the features of the jet notebooks need fastjet on the hosted platforms too"
    )


def test_leak_scan_finds_every_kind_of_leak(course, published, tmp_path):
    """Does the scan report each kind of instructor's material planted into a copy of the published tree?"""
    tree = pub.folder_tree(published)
    secret = sorted(pub.secret_lines(course))[0]
    database = tmp_path / "gradebook.db"
    with sqlite3.connect(database) as db:
        db.execute("create table grade (id integer)")
    seed = generate.hidden_split_seed(REPO / "hidden_data")
    planted = {
        "source/hw02_gradient_descent/notes.md": b"a file in an instructor's folder",
        "src/dl4phys/grading/__init__.py": b"the grader",
        "src/dl4phys/data/generate.py": b"the generator",
        "notes/markers.md": b"### BEGIN SOLUTION\nx = 1\n### END SOLUTION\n",
        "notes/solution.py": f"def f(x):\n    {secret}\n".encode(),
        "notes/labels.npy": (REPO / "hidden_data" / "test_labels.npy").read_bytes(),
        "notes/case.toml": (REPO / "tests" / "submissions" / "hw02_gradient_descent" / "partial.toml").read_bytes(),
        "notes/grades.sqlite": database.read_bytes(),
        "notes/url.md": f"clone git@github.com:{pub.settings(course).course_repository.split('github.com/')[1]}.git".encode(),
        "notes/seed.txt": f"split seed {seed}\n".encode(),
    }
    problems = pub.leaks(course, {**tree, **planted})
    for path in planted:
        assert any(p.startswith(f"{path}: ") for p in problems), f"the scan missed {path}"
    assert all(any(p.startswith(f"{path}: ") for path in planted) for p in problems), "only planted files are reported"


def test_publishing_twice_gives_the_same_tree(course, published, tmp_path):
    """Does a second publish, into another empty folder, write the same files, byte for byte?"""
    again = pub.publish(course, tmp_path / "again")
    assert again.commit is None and again.files == len(pub.folder_tree(published))
    assert pub.folder_tree(tmp_path / "again") == pub.folder_tree(published)


def test_publish_updates_a_clone_with_one_commit(course, published, tmp_path):
    """Does publishing into a clone of the students' repository replace its files by the new tree in one
    commit that names the course's revision, and a second publish commit nothing?"""
    origin = tmp_path / "origin.git"
    subprocess.run(["git", "init", "--quiet", "--bare", "-b", "main", str(origin)], check=True)
    clone = tmp_path / "homework"
    subprocess.run(["git", "clone", "--quiet", str(origin), str(clone)], check=True, capture_output=True)
    first = pub.publish(course, clone)
    assert first.commit and _git(clone, "log", "--format=%s") == first.message
    assert pub.course_revision(course) in first.message
    # An older publish: a homework since withdrawn, an older README.
    (clone / "release" / "hw00_withdrawn").mkdir()
    (clone / "release" / "hw00_withdrawn" / "old.ipynb").write_text("{}")
    (clone / "README.md").write_text(pub.MARKER + "\nan older README\n")
    _git(clone, "add", "--all")
    _git(clone, "-c", "user.name=t", "-c", "user.email=t@example.org", "commit", "--quiet", "-m", "an older publish")
    commits = int(_git(clone, "rev-list", "--count", "HEAD"))

    update = pub.publish(course, clone)
    assert int(_git(clone, "rev-list", "--count", "HEAD")) == commits + 1
    assert _git(clone, "status", "--porcelain") == ""
    assert pub.folder_tree(clone) == pub.folder_tree(published)
    assert sorted(_git(clone, "show", "--name-only", "--format=", "HEAD").splitlines()) == [
        "README.md",
        "release/hw00_withdrawn/old.ipynb",
    ]
    assert update.commit == _git(clone, "rev-parse", "--short=12", "HEAD")

    assert pub.publish(course, clone).commit is None
    assert int(_git(clone, "rev-list", "--count", "HEAD")) == commits + 1


def test_publish_refuses_other_folders(course, tmp_path, capsys):
    """Does publish refuse, on one line, a folder it did not write, a clone with uncommitted changes and the course itself?"""
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "thesis.tex").write_text("mine")
    clone = tmp_path / "clone"
    subprocess.run(["git", "init", "--quiet", str(clone)], check=True)
    pub.publish(course, clone)
    (clone / "README.md").write_text(pub.MARKER + "\nedited by hand\n")
    for dest, words in ((foreign, "neither empty nor"), (clone, "uncommitted changes"), (REPO / "build" / "x", "course folder")):
        assert cli.main(["publish", str(dest), "--course-dir", str(REPO)]) == 2
        err = capsys.readouterr().err
        assert err.startswith("error: ") and words in err and len(err.strip().splitlines()) == 1
    assert (foreign / "thesis.tex").read_text() == "mine"


def test_settings_keep_the_two_repositories_apart(tmp_path):
    """Is a course whose students' repository is its own refused?"""
    (tmp_path / "source").mkdir()
    (tmp_path / "pyproject.toml").write_text(
        '[tool.dl4phys]\nstudent_repository = "https://github.com/a/b"\ncourse_repository = "https://github.com/a/b.git"\n'
    )
    with pytest.raises(grading.CourseError, match="two repositories"):
        pub.settings(grading.Course.at(tmp_path))
