"""A GPU rehearsal in one command: grade every assignment in the sandbox with CUDA, on a bare GPU machine.

A GPU machine lent for a short time has PyTorch and CUDA but none of nbgrader, Jupyter, the course's
other dependencies or bubblewrap, and often no network. This script has two halves:

``lock`` (here, after a change of the pins): resolves what grading needs for the GPU machine's Python
(3.12, manylinux x86-64), leaves out what such a machine already has (PyTorch and the scientific stack)
and the front-end packages grading never imports (JupyterLab, spaCy), and writes the list to
``tools/gpu-rehearsal.lock``.

``prepare`` (here, with the package registries): downloads the locked wheels into ``.rehearsal/wheels/``,
builds the course package's wheel there, and unpacks Debian's bubblewrap into ``.rehearsal/bwrap/``.
``--dry-run`` only checks that every locked wheel and bubblewrap can be had, downloading nothing big.

``grade`` (there, from the course root): with the wheels on ``PYTHONPATH`` and bwrap on ``PATH`` (the
shell script does this), grades each assignment's ``perfect`` case and one wrong case through the same
``grade`` as instructors use, in the sandbox, with CUDA required, and prints one row per notebook:
score, expected score, wall time and peak GPU memory. That table fills the README's GPU column.

    tools/gpu-rehearsal.sh lock                     # here, when the pins change
    tools/gpu-rehearsal.sh prepare [--dry-run]      # here
    tools/gpu-rehearsal.sh run                      # there (carry .rehearsal)
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
REHEARSAL = ROOT / ".rehearsal"
LOCK = ROOT / "tools" / "gpu-rehearsal.lock"
PYTHON_VERSION = "3.12"
PLATFORMS = [
    "manylinux_2_28_x86_64",
    "manylinux_2_27_x86_64",
    "manylinux_2_17_x86_64",
    "manylinux2014_x86_64",
    "manylinux1_x86_64",
    "linux_x86_64",
    "any",
]
#: What grading imports (the course package's own needs come from its pyproject through the wheel's metadata).
NEEDED = [
    "nbgrader==0.9.6",
    "fastai==2.8.12",
    "tables==3.11.1",
    "dask==2026.8.0",
    "distributed==2026.8.0",
    "platformdirs",
    "pooch",
    "vector",
    "Jinja2",
    "psutil",
    "nbclient",
    "nbformat",
    "ipykernel",
    "jupyter_client",
]
#: On the GPU machine already (its image's list, /work/.library/device/KINDS.md), or never imported by grading.
LEAVE_OUT = {
    "torch",
    "torchvision",
    "torchaudio",
    "triton",
    "numpy",
    "scipy",
    "pandas",
    "matplotlib",
    "scikit-learn",
    "pillow",
    "pyyaml",
    "requests",
    "urllib3",
    "idna",
    "certifi",
    "charset-normalizer",
    "jinja2",
    "markupsafe",
    "packaging",
    "psutil",
    "six",
    "python-dateutil",
    "pytz",
    "tzdata",
    "filelock",
    "fsspec",
    "sympy",
    "mpmath",
    "networkx",
    "typing-extensions",
    "setuptools",
    "cloudpickle",
    "toolz",
    "msgpack",
    "sortedcontainers",
    "pygments",
    "tqdm",
    "contourpy",
    "cycler",
    "fonttools",
    "kiwisolver",
    "pyparsing",
    "joblib",
    "threadpoolctl",
    "attrs",
    "anyio",
    "h11",
    "httpcore",
    "httpx",
    "prometheus-client",
    "py-cpuinfo",
    "click",
    "rich",
    "markdown-it-py",
    "mdurl",
    "typer",
    "shellingham",
    "h5py",
    "pyarrow",
    "lxml",
    "regex",
    "zipp",
    "wheel",
    "pip",
    # front ends and text models grading never imports
    "jupyterlab",
    "notebook",
    "jupyterlab-server",
    "notebook-shim",
    "jupyter-lsp",
    "spacy",
    "thinc",
    "blis",
    "cymem",
    "preshed",
    "murmurhash",
    "srsly",
    "wasabi",
    "weasel",
    "catalogue",
    "confection",
    "langcodes",
    "language-data",
    "marisa-trie",
    "smart-open",
    "cloudpathlib",
    "spacy-legacy",
    "spacy-loggers",
    "debugpy",
}
LEAVE_OUT_PREFIXES = ("nvidia-", "cuda-")


def _norm(name: str) -> str:
    return name.lower().replace("_", "-").replace(".", "-")


def _pip(*args: str) -> list[str]:
    command = [
        sys.executable,
        "-m",
        "pip",
        *args,
        "--disable-pip-version-check",
        "--only-binary=:all:",
        "--python-version",
        PYTHON_VERSION,
        "--implementation",
        "cp",
    ]
    for platform in PLATFORMS:
        command += ["--platform", platform]
    return command


def resolve() -> list[str]:
    """``name==version`` of every wheel the GPU machine lacks for grading (pip's resolver, for Python 3.12)."""
    with tempfile.TemporaryDirectory() as scratch:
        report = Path(scratch) / "report.json"
        subprocess.run(
            _pip("install", "--dry-run", "--ignore-installed", "--target", scratch, "--quiet", "--report", str(report), *NEEDED),
            check=True,
        )
        installs = json.loads(report.read_text())["install"]
    pins = []
    for item in installs:
        name, version = item["metadata"]["name"], item["metadata"]["version"]
        if _norm(name) in {_norm(n) for n in LEAVE_OUT} or _norm(name).startswith(LEAVE_OUT_PREFIXES):
            continue
        pins.append(f"{name}=={version}")
    return sorted(pins, key=str.lower)


def bubblewrap(dest: Path, dry_run: bool) -> None:
    """Debian's bubblewrap package, unpacked (its binary at ``dest/usr/bin/bwrap``)."""
    if dry_run:
        uris = subprocess.run(["apt-get", "download", "--print-uris", "bubblewrap"], capture_output=True, text=True)
        if uris.returncode != 0 or ".deb" not in uris.stdout:
            raise SystemExit(f"bubblewrap's Debian package cannot be had here: {uris.stderr.strip()[:200]}")
        return
    with tempfile.TemporaryDirectory() as scratch:
        subprocess.run(["apt-get", "download", "-q", "bubblewrap"], cwd=scratch, check=True, capture_output=True)
        deb = next(Path(scratch).glob("bubblewrap_*.deb"))
        dest.mkdir(parents=True, exist_ok=True)
        subprocess.run(["dpkg", "-x", str(deb), str(dest)], check=True)


def lock() -> int:
    pins = resolve()
    LOCK.write_text(
        "# Wheels a bare GPU machine (Python 3.12) lacks for grading; made by `tools/gpu-rehearsal.sh lock`.\n"
        + "\n".join(pins)
        + "\n"
    )
    print(f"wrote {len(pins)} pins into {LOCK}")
    return 0


def locked() -> list[str]:
    return [line.strip() for line in LOCK.read_text().splitlines() if line.strip() and not line.startswith("#")]


def prepare(dry_run: bool) -> int:
    pins = locked()
    bubblewrap(REHEARSAL / "bwrap", dry_run)
    if dry_run:
        with tempfile.TemporaryDirectory() as scratch:
            subprocess.run(
                _pip("install", "--dry-run", "--no-deps", "--ignore-installed", "--target", scratch, "--quiet", *pins), check=True
            )
        print(f"dry run: the {len(pins)} locked wheels for Python {PYTHON_VERSION} and bubblewrap can be had; nothing downloaded")
        return 0
    wheels = REHEARSAL / "wheels"
    shutil.rmtree(wheels, ignore_errors=True)
    wheels.mkdir(parents=True)
    subprocess.run(_pip("download", "--no-deps", "--quiet", "-d", str(wheels), *pins), check=True)
    # The course package itself, built here (a wheel for any Python: it is pure Python).
    build = ["wheel", "--quiet", "--no-deps", "--no-build-isolation"]
    subprocess.run([sys.executable, "-m", "pip", *build, "--wheel-dir", str(wheels), str(ROOT)], check=True)
    size = sum(p.stat().st_size for p in wheels.iterdir()) / 2**20
    print(f"wrote {len(list(wheels.iterdir()))} wheels ({size:.0f} MB) into {wheels} and bwrap into {REHEARSAL / 'bwrap'}")
    return 0


class GpuMemory:
    """Peak GPU memory in use while a block runs (nvidia-smi every half second), minus what was in use before."""

    def __enter__(self):
        self.base = self.peak = self._used()
        self.running = True
        self.thread = threading.Thread(target=self._watch, daemon=True)
        self.thread.start()
        return self

    def _used(self) -> int:
        out = subprocess.run(
            ["nvidia-smi", "--query-gpu=memory.used", "--format=csv,noheader,nounits"], capture_output=True, text=True
        ).stdout
        return sum(int(line) for line in out.split() if line.strip().isdigit())

    def _watch(self):
        while self.running:
            self.peak = max(self.peak, self._used())
            time.sleep(0.5)

    def __exit__(self, *exc):
        self.running = False
        self.thread.join()
        self.mib = self.peak - self.base


def grade(out: Path | None) -> int:
    import torch

    from dl4phys import grading
    from dl4phys.grading.cases import load_case

    if not torch.cuda.is_available():
        raise SystemExit("error: the rehearsal needs a CUDA GPU, and torch sees none (check nvidia-smi and the torch build)")
    site = os.environ.get("DL4PHYS_REHEARSAL_SITE", "")
    overrides = {
        "SandboxKernelManager": {"kernel_env": {"PYTHONPATH": os.pathsep.join(p for p in [site, str(ROOT / "src")] if p)}}
    }
    rows = [
        f"# {torch.cuda.get_device_name(0)}, torch {torch.__version__}, Python {sys.version.split()[0]}",
        "| assignment | case | score | expected | wall time | peak GPU memory |",
        "|:---|:---|---:|---:|---:|---:|",
    ]
    print("\n".join(rows), flush=True)
    failed = False
    with tempfile.TemporaryDirectory() as scratch:
        course = grading.Course(
            root=Path(scratch),
            source=ROOT / "source",
            config_file=ROOT / "nbgrader_config.py",
            cases=ROOT / "tests" / "submissions",
        )
        course = course.with_overrides(overrides)
        if site:  # the wheels' folder, read-only in the sandbox
            settings = course.config.SandboxKernelManager
            course = course.with_overrides({"SandboxKernelManager": {"readonly_paths": list(settings.readonly_paths) + [site]}})
        for assignment in course.assignments():
            cases = {name: load_case(path) for name, path in grading.demo_cases(course, assignment).items()}
            wrong = next(
                (
                    n
                    for n, c in cases.items()
                    if n not in ("perfect", "blank") and (isinstance(c.score, str) or c.score < cases["perfect"].score)
                ),
                None,
            )
            grading.release(course, [assignment])
            for case in [c for c in ("perfect", wrong) if c]:
                grading.submit_demo_cases(course, assignment, [case])
                started = time.perf_counter()
                with GpuMemory() as memory:
                    outcome = grading.grade(course, assignment, [case], workers=1)[0]
                seconds = time.perf_counter() - started
                score = grading.score_of(course, assignment, case)[0] if outcome.ok else float("nan")
                expected = cases[case].score
                ok = score == expected if not isinstance(expected, str) else score < float(expected[1:])
                failed |= not ok
                row = f"| {assignment} | {case} | {score:g} | {expected} | {seconds:.0f} s | {memory.mib} MiB |"
                rows.append(row)
                print(row + ("" if ok else "  <- MISMATCH " + "; ".join(outcome.notes)[:200]), flush=True)
    if out:
        out.write_text("\n".join(rows) + "\n")
    return 1 if failed else 0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="step", required=True)
    sub.add_parser("lock", help="(here) resolve the wheels the GPU machine lacks into tools/gpu-rehearsal.lock")
    p = sub.add_parser("prepare", help="(here) wheels and bubblewrap for the GPU machine into .rehearsal/")
    p.add_argument("--dry-run", action="store_true", help="only resolve and check availability")
    p = sub.add_parser("grade", help="(there) grade perfect and one wrong case of every assignment with CUDA")
    p.add_argument("--out", type=Path, help="also write the table to this file")
    args = parser.parse_args(argv)
    if args.step == "lock":
        return lock()
    return prepare(args.dry_run) if args.step == "prepare" else grade(args.out)


if __name__ == "__main__":
    sys.exit(main())
