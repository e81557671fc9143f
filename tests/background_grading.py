"""The demo cases graded in a process of their own, started as the test session starts.

Running the demo notebooks is most of the suite's CPU time, and the other tests leave the cores idle
much of theirs (they wait on kernels, servers and subprocesses). So the session starts this grading
at once, in a separate process (its own Dask workers, nothing shared with the tests' process), runs
the other tests meanwhile, and runs the tests that read the grades last.

Run as ``python -m tests.background_grading ROOT RESULTS WORKERS ASSIGNMENT...`` from the repository
root: it releases the assignments into the scratch course at ROOT, builds and grades their demo cases
exactly as :class:`tests.conftest.GradedCourse` does in-process, and pickles the outcomes to RESULTS.
"""

from __future__ import annotations

import os
import pickle
import signal
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SOURCE = REPO / "source"


def scratch_course(root: Path, **kwargs):
    """A course folder at ``root`` that grades this repository's assignments (source, settings, cases)."""
    from dl4phys import grading

    kwargs.setdefault("release", root / "release")
    return grading.Course(
        root=root, source=SOURCE, config_file=REPO / "nbgrader_config.py", cases=REPO / "tests" / "submissions", **kwargs
    )


def grade_demo_cases(course, assignments: list[str], workers: int) -> list:
    """Release ``assignments`` into ``course``, submit their demo cases and grade them in one run."""
    from dl4phys import grading, sandbox

    grading.release(course, assignments)
    submissions = {a: grading.submit_demo_cases(course, a) for a in assignments}
    # Graded in the sandbox as instructors grade; without bubblewrap (a laptop), the same path unsandboxed.
    return grading.grade_assignments(course, submissions, unsafe=sandbox.bwrap_path() is None, workers=workers)


class BackgroundGrading:
    """The grading process: started at once, waited for by the first test that needs a grade."""

    def __init__(self, root: Path, assignments: list[str], workers: int):
        self.assignments = sorted(assignments)
        self.results = root.parent / f"{root.name}-outcomes.pickle"
        self.log = root.parent / f"{root.name}-grading.log"
        with self.log.open("wb") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "tests.background_grading", str(root), str(self.results), str(workers), *self.assignments],
                cwd=REPO,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its Dask workers and kernels form one group, stopped together
            )

    def outcomes(self, timeout: float) -> list:
        """Wait for the grading to end; its outcomes, or an error that quotes the end of its log."""
        try:
            code = self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.stop()
            raise RuntimeError(f"the background grading did not end within {timeout:.0f} s; its log: {self.log}") from None
        if code != 0 or not self.results.is_file():
            tail = self.log.read_text(errors="replace")[-3000:]
            raise RuntimeError(f"the background grading failed (exit code {code}); end of {self.log}:\n{tail}")
        return pickle.loads(self.results.read_bytes())

    def stop(self) -> None:
        """Stop the grading and everything it started (a session that ends early)."""
        if self.process.poll() is None:
            try:
                os.killpg(self.process.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.process.wait()


def main(argv: list[str]) -> int:
    root, results, workers, *assignments = argv
    outcomes = grade_demo_cases(scratch_course(Path(root)), assignments, int(workers))
    partial = Path(results).with_suffix(".partial")
    partial.write_bytes(pickle.dumps(outcomes))
    partial.replace(results)  # the results appear whole or not at all
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
