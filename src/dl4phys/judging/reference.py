"""Reference records: the records the hidden tests make when they run against the instructor's solution.

They are computed, never typed in: :func:`reference_records` runs the source notebook (solutions and
hidden tests) through the same sandboxed execute step as a student's notebook, on this grading
machine's device, and keeps the record files in a cache folder keyed by the assignment, a hash of the
source notebook and the device. A change of the source notebook gives a new key, so the records are
recomputed; concurrent graders (Dask workers) wait for one another on a lock file instead of
computing them twice. The folder is the instructor's (``c.JudgeTestCells.reference_dir``, default
the user cache of platformdirs); it never reaches a student.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import tempfile
import time
from pathlib import Path

import nbformat

from .judge import ReferenceError
from .records import decode, file_name

#: Bump when the meaning of a record changes, to recompute every cached reference.
REFERENCE_FORMAT = 1
COMPLETE = "complete.json"


def grading_device() -> str:
    """``cuda`` where torch sees a GPU, else ``cpu``: references and students' records come from the same kind."""
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def default_reference_dir() -> Path:
    import platformdirs

    return Path(platformdirs.user_cache_dir("dl4phys")) / "references"


def reference_key(source_notebook: Path, device: str) -> str:
    import dl4phys

    digest = hashlib.sha256(Path(source_notebook).read_bytes())
    digest.update(f"{REFERENCE_FORMAT}:{dl4phys.__version__}:{device}".encode())
    return digest.hexdigest()[:20]


def reference_folder(root: Path, assignment: str, source_notebook: Path, device: str) -> Path:
    return Path(root) / assignment / f"{Path(source_notebook).stem}-{device}-{reference_key(source_notebook, device)}"


def _run_source(source_notebook: Path, config, log=None) -> dict[str, bytes]:
    """Execute the source notebook in the sandbox; its record files, by name."""
    from ..preprocessors.sandboxed_execute import SandboxedExecute

    nb = nbformat.read(source_notebook, as_version=4)
    execute = SandboxedExecute(config=config)
    resources = {"metadata": {"path": str(Path(source_notebook).parent)}, "dl4phys": {"source": str(source_notebook)}}
    nb, resources = execute.preprocess(nb, resources)
    problems = []
    for cell in nb.cells:
        meta = cell.metadata.get("nbgrader", {})
        errors = [o for o in cell.get("outputs", []) if o.get("output_type") == "error"]
        if errors and cell.cell_type == "code":
            problems.append(f"{meta.get('grade_id', 'a cell')}: {errors[0].get('ename')}: {str(errors[0].get('evalue'))[:200]}")
    if problems:
        raise ReferenceError(
            f"the source notebook {Path(source_notebook).name} fails when run as the grader runs it: " + "; ".join(problems[:3])
        )
    return resources.get("dl4phys", {}).get("records", {})


def reference_records(
    source_notebook: Path, assignment: str, config, root: Path | None = None, device: str | None = None, log=None
) -> dict[str, tuple[dict, dict]]:
    """``grade_id -> (records, meta)`` of the source notebook's probes, computed once per key and cached."""
    device = device or grading_device()
    folder = reference_folder(root or default_reference_dir(), assignment, source_notebook, device)
    folder.parent.mkdir(parents=True, exist_ok=True)
    with open(folder.parent / f"{folder.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (folder / COMPLETE).is_file():
            if log is not None:
                log.info("computing the reference records of %s on %s (runs the source notebook once)", assignment, device)
            started = time.monotonic()
            records = _run_source(Path(source_notebook), config, log)
            seconds = time.monotonic() - started
            staging = Path(tempfile.mkdtemp(prefix=f".{folder.name}-", dir=folder.parent))
            for name, data in records.items():
                (staging / name).write_bytes(data)
            (staging / COMPLETE).write_text(
                json.dumps(
                    {"source": str(source_notebook), "device": device, "records": sorted(records), "seconds": round(seconds, 1)},
                    indent=1,
                )
                + "\n"
            )
            if folder.exists():
                shutil.rmtree(folder)
            os.replace(staging, folder)
    result = {}
    for name in json.loads((folder / COMPLETE).read_text())["records"]:
        result[name[: -len(".npz")]] = decode((folder / name).read_bytes())
    return result


def reference_seconds(source_notebook: Path, assignment: str, root: Path | None = None, device: str | None = None) -> float:
    """Seconds the source notebook took to run when its cached reference records were computed (0: unknown)."""
    folder = reference_folder(root or default_reference_dir(), assignment, source_notebook, device or grading_device())
    try:
        return float(json.loads((folder / COMPLETE).read_text()).get("seconds", 0.0))
    except (OSError, ValueError, TypeError):
        return 0.0


def probed_cells(source_notebook: Path) -> list[str]:
    """grade_ids of the test cells whose hidden part records with a probe (read from the source)."""
    cells = []
    for cell in nbformat.read(source_notebook, as_version=4).cells:
        meta = cell.metadata.get("nbgrader", {})
        if meta.get("grade") and cell.cell_type == "code" and f'probe("{meta.get("grade_id")}")' in cell.source:
            cells.append(meta["grade_id"])
    return cells


__all__ = ["reference_records", "reference_folder", "reference_seconds", "grading_device", "probed_cells", "file_name"]
