"""Does grading in parallel give exactly the gradebook that grading one student after another gives?"""

from __future__ import annotations

import pytest

from dl4phys import grading, sandbox

from .conftest import free_port

pytestmark = [pytest.mark.grading, pytest.mark.slow]

ASSIGNMENT = "hw02_gradient_descent"


def _graded(root, workers):
    course = grading.Course(root=root, release=root / "release")
    grading.release(course, [ASSIGNMENT])
    students = grading.submit_demo_cases(course, ASSIGNMENT)
    outcomes = grading.grade(course, ASSIGNMENT, students, workers=workers, unsafe=sandbox.bwrap_path() is None)
    assert all(o.ok for o in outcomes), outcomes
    with grading._gradebook(course) as gb:
        cells = {(s, nb.name, g.name): (g.auto_score, g.max_score, g.needs_manual_grade)
                 for s in students for nb in gb.find_submission(ASSIGNMENT, s).notebooks for g in nb.grades}
    return cells, [(o.student, o.notes) for o in outcomes]


def test_two_workers_give_the_same_gradebook_as_one(tmp_path):
    """Are the grades of every cell of every student identical with 1 and with 2 workers?"""
    serial = _graded(tmp_path / "serial", workers=1)
    parallel = _graded(tmp_path / "parallel", workers=2)
    assert serial[0] and serial == parallel


@pytest.fixture(scope="module")
def postgres_url():
    """A real PostgreSQL server on 127.0.0.1 (Debian's postgresql package), with an empty database."""
    import glob
    import os
    import shutil
    import subprocess

    bin_dir = next(iter(sorted(glob.glob("/usr/lib/postgresql/*/bin"))), None)
    assert bin_dir, "PostgreSQL is not installed: `apt-get install postgresql` (.ci/run does it)"
    import tempfile
    from pathlib import Path

    # Not under pytest's tmp folders: those are private to root, and the server runs as postgres.
    data = Path(tempfile.mkdtemp(prefix="dl4phys-postgres-"))
    run_as = []
    if os.geteuid() == 0:  # initdb refuses root; run the server as the package's postgres user
        shutil.chown(data, "postgres")
        run_as = ["runuser", "-u", "postgres", "--"]
    port = free_port()
    subprocess.run(run_as + [f"{bin_dir}/initdb", "-D", str(data), "--auth=trust", "-U", "postgres"],
                   check=True, capture_output=True)
    subprocess.run(run_as + [f"{bin_dir}/pg_ctl", "-D", str(data), "-l", str(data / "server.log"), "-w",
                             "-o", f"-h 127.0.0.1 -p {port} -k {data}", "start"], check=True, capture_output=True)
    try:
        import psycopg2

        connection = psycopg2.connect(host="127.0.0.1", port=port, user="postgres", dbname="postgres")
        connection.autocommit = True
        connection.cursor().execute("CREATE DATABASE gradebook")
        connection.close()
        yield f"postgresql+psycopg2://postgres@127.0.0.1:{port}/gradebook"
    finally:
        subprocess.run(run_as + [f"{bin_dir}/pg_ctl", "-D", str(data), "-m", "fast", "stop"], capture_output=True)
        shutil.rmtree(data, ignore_errors=True)


def test_postgres_gradebook_with_two_workers_matches_sqlite(tmp_path, postgres_url):
    """Does a class graded through a PostgreSQL gradebook with 2 workers get the grades SQLite gives?"""
    sqlite = _graded(tmp_path / "sqlite", workers=1)
    course = grading.Course(root=tmp_path / "pg", release=tmp_path / "pg" / "release", database=postgres_url)
    grading.release(course, [ASSIGNMENT])
    students = grading.submit_demo_cases(course, ASSIGNMENT)
    outcomes = grading.grade(course, ASSIGNMENT, students, workers=2, unsafe=sandbox.bwrap_path() is None)
    assert all(o.ok for o in outcomes), outcomes
    assert not (course.root / "gradebook.db").exists(), "grades must go to the server, not to a local file"
    with grading._gradebook(course) as gb:
        cells = {(s, nb.name, g.name): (g.auto_score, g.max_score, g.needs_manual_grade)
                 for s in students for nb in gb.find_submission(ASSIGNMENT, s).notebooks for g in nb.grades}
    assert cells == sqlite[0]
    table, _ = grading.report(course)
    assert "perfect" in table


def test_grading_workers_share_the_cores_between_their_notebooks():
    """Do the Dask grading workers (and the kernels they start) get the machine's cores shared out as BLAS/OpenMP threads?"""
    import os

    from dask.distributed import Client

    from dl4phys.grading import kernel_threads, local_cluster

    cores = len(os.sched_getaffinity(0))
    assert kernel_threads(1) == cores
    assert kernel_threads(cores * 4) == 1
    with local_cluster(2) as cluster, Client(cluster) as client:
        seen = client.run(lambda: (os.environ.get("OMP_NUM_THREADS"), os.environ.get("MKL_NUM_THREADS")))
    assert len(seen) == 2
    assert set(seen.values()) == {(str(max(1, cores // 2)),) * 2}
