"""Does grading in parallel, on a database server or on a Dask cluster give exactly the serial gradebook?"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time

import pytest

from dl4phys import grading, sandbox

from .conftest import cell_grades, free_port, scratch_course

pytestmark = [pytest.mark.grading, pytest.mark.slow]

ASSIGNMENT = "hw02_gradient_descent"
UNSAFE = sandbox.bwrap_path() is None


def _cells(course, students):
    return cell_grades(course, ASSIGNMENT, students)


def _submitted(course):
    grading.release(course, [ASSIGNMENT])
    return grading.submit_demo_cases(course, ASSIGNMENT)


@pytest.fixture(scope="module")
def serial(serial_hw02):
    """hw02's demo cases graded one after another (one worker): the gradebook every other way must give."""
    return serial_hw02.students, serial_hw02.cell_grades()


def test_two_workers_give_the_same_gradebook_as_one(serial, graded_course):
    """Are the grades of every cell of every student identical with 1 and with 2 workers?"""
    students, cells = serial
    graded_course.ensure(ASSIGNMENT)  # the course tests grade hw02 on two workers
    assert cells and _cells(graded_course.course, students) == cells


@pytest.fixture(scope="module")
def postgres_url():
    """A real PostgreSQL server on 127.0.0.1 (Debian's postgresql package), with an empty database."""
    import glob
    import shutil
    import tempfile
    from pathlib import Path

    bin_dir = next(iter(sorted(glob.glob("/usr/lib/postgresql/*/bin"))), None)
    assert bin_dir, "PostgreSQL is not installed: `apt-get install postgresql` (.ci/run does it)"
    # Not under pytest's tmp folders: those are private to root, and the server runs as postgres.
    data = Path(tempfile.mkdtemp(prefix="dl4phys-postgres-"))
    run_as = []
    if os.geteuid() == 0:  # initdb refuses root; run the server as the package's postgres user
        shutil.chown(data, "postgres")
        run_as = ["runuser", "-u", "postgres", "--"]
    port = free_port()
    subprocess.run(
        run_as + [f"{bin_dir}/initdb", "-D", str(data), "--auth=trust", "-U", "postgres"], check=True, capture_output=True
    )
    subprocess.run(
        run_as
        + [
            f"{bin_dir}/pg_ctl",
            "-D",
            str(data),
            "-l",
            str(data / "server.log"),
            "-w",
            "-o",
            f"-h 127.0.0.1 -p {port} -k {data}",
            "start",
        ],
        check=True,
        capture_output=True,
    )
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


class _DaskCluster:
    """A Dask scheduler and two workers as separate processes on 127.0.0.1, started as dask-jobqueue starts them."""

    def __init__(self, folder):
        self.port = free_port()
        self.address = f"tcp://127.0.0.1:{self.port}"
        env = dict(os.environ, DASK_DISTRIBUTED__WORKER__DAEMON="False")
        self.scheduler = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "distributed.cli.dask_scheduler",
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--dashboard-address",
                ":0",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env=env,
        )
        self.workers = []
        for index in range(2):
            workdir = folder / f"worker{index}"
            workdir.mkdir()
            self.workers.append(
                subprocess.Popen(
                    [
                        sys.executable,
                        "-m",
                        "distributed.cli.dask_worker",
                        self.address,
                        "--nthreads",
                        "1",
                        "--nworkers",
                        "1",
                        "--name",
                        str(index),
                        "--local-directory",
                        str(workdir),
                        "--dashboard-address",
                        ":0",
                        "--no-nanny",
                    ],
                    cwd=workdir,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                    env=env,
                )
            )
        from dask.distributed import Client

        with Client(self.address, timeout=60) as client:
            client.wait_for_workers(2, timeout=120)

    def close(self):
        for process in self.workers + [self.scheduler]:
            process.kill()
            process.wait()


def test_a_cluster_into_postgres_with_a_worker_killed_grades_each_student_once(tmp_path, serial, postgres_url, monkeypatch):
    """On a Dask scheduler and two worker processes, into a PostgreSQL gradebook, with one worker killed mid-run,
    is every student graded exactly once, with the grades the serial SQLite run gives?"""
    students, cells = serial
    course = scratch_course(tmp_path / "course", database=postgres_url)
    _submitted(course)
    imported = []
    original = grading.parallel.import_grades
    monkeypatch.setattr(grading.parallel, "import_grades", lambda c, a, s, g: (imported.append(s), original(c, a, s, g)))
    cluster = _DaskCluster(tmp_path)
    killed = threading.Event()

    def kill_a_worker():
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline and not killed.is_set():
            if any(course.autograded.glob(f"*/{ASSIGNMENT}")) or len(imported) > 0:
                cluster.workers[1].send_signal(signal.SIGKILL)
                killed.set()
            time.sleep(0.5)

    killer = threading.Thread(target=kill_a_worker, daemon=True)
    try:
        killer.start()
        outcomes = grading.grade(course, ASSIGNMENT, students, scheduler=cluster.address, unsafe=UNSAFE)
    finally:
        killed.set()
        cluster.close()
    assert cluster.workers[1].returncode == -signal.SIGKILL, "a worker was killed during the run"
    assert all(o.ok for o in outcomes), outcomes
    assert sorted(imported) == sorted(students), "each student's grades are written once"
    assert not (course.root / "gradebook.db").exists(), "grades must go to the server, not to a local file"
    assert _cells(course, students) == cells
    table, _ = grading.report(course)
    assert "perfect" in table


def test_grading_workers_share_the_cores_between_their_notebooks():
    """Do the Dask grading workers (and the kernels they start) get the machine's cores shared out as BLAS/OpenMP threads?"""
    from dask.distributed import Client

    cores = len(os.sched_getaffinity(0))
    assert grading.kernel_threads(1) == cores
    assert grading.kernel_threads(cores * 4) == 1
    with grading.local_cluster(2) as cluster, Client(cluster) as client:
        seen = client.run(lambda: (os.environ.get("OMP_NUM_THREADS"), os.environ.get("MKL_NUM_THREADS")))
    assert len(seen) == 2
    assert set(seen.values()) == {(str(max(1, cores // 2)),) * 2}


def test_a_failing_reference_stops_parallel_grading_before_any_grade_is_written(tmp_path):
    """When the instructor's source notebook fails (the reference records are computed by a worker beside
    the students' notebooks), does `grade` on two workers raise that error and write no grade?"""
    import shutil

    import nbformat

    from dl4phys.judging.judge import ReferenceError

    from .conftest import REPO, SOURCE

    source = tmp_path / "source"
    shutil.copytree(SOURCE / ASSIGNMENT, source / ASSIGNMENT)
    shutil.copy(SOURCE / "header.ipynb", source / "header.ipynb")
    path = next((source / ASSIGNMENT).glob("*.ipynb"))
    notebook = nbformat.read(path, as_version=4)
    solution = next(c for c in notebook.cells if "### BEGIN SOLUTION" in c.source)
    solution.source = "raise RuntimeError('broken by the test')\n" + solution.source
    nbformat.write(notebook, path)
    course = grading.Course(
        root=tmp_path / "course",
        source=source,
        release=tmp_path / "course" / "release",
        config_file=REPO / "nbgrader_config.py",
        cases=REPO / "tests" / "submissions",
    ).with_overrides({"JudgeTestCells": {"reference_dir": str(tmp_path / "references")}})
    students = _submitted(course)[:3]
    with pytest.raises(ReferenceError, match="broken by the test"):
        grading.grade(course, ASSIGNMENT, students, workers=2, unsafe=UNSAFE)
    with grading.gradebook(course) as gb:
        scored = [
            g.name
            for st in gb.students
            for sub in st.submissions
            for nb in sub.notebooks
            for g in nb.grades
            if g.auto_score is not None
        ]
    assert scored == []


def test_each_grading_worker_and_its_kernels_keep_to_their_own_cores():
    """Does each local grading worker keep to its own block of cores, and the programs it starts too (so that a
    kernel's fastai starts as many DataLoader workers as its share of the cores, not one per core of the machine)?"""
    import json

    from dask.distributed import Client

    from dl4phys.grading import parallel

    cores = sorted(os.sched_getaffinity(0))
    if len(cores) < 2:
        pytest.skip("needs two cores")

    def cores_of_a_child_after_taking_share():
        parallel.take_share()
        script = "import json, os; print(json.dumps(sorted(os.sched_getaffinity(0))))"
        return json.loads(subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True).stdout)

    with grading.local_cluster(2) as cluster, Client(cluster) as client:
        workers = sorted(client.scheduler_info()["workers"])
        seen = [client.submit(cores_of_a_child_after_taking_share, workers=[w], pure=False).result() for w in workers]
    assert [len(s) for s in seen] == [len(cores) // 2] * 2
    assert not set(seen[0]) & set(seen[1]), f"two workers on the same cores: {seen}"
    assert set(seen[0]) | set(seen[1]) <= set(cores)
