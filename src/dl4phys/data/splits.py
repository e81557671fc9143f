"""The course's jet splits: the shipped sample (train, valid) and the hidden test split.

* ``train`` and ``valid`` ship inside the package (``dl4phys/data/sample/*.h5``, the
  reference format with labels).
* ``test`` is the hidden split. It lives in ``<repo>/hidden_data`` (or wherever the
  environment variable ``DL4PHYS_HIDDEN_DATA`` points) and exists only where the instructor
  grades. Its inputs (``test_inputs.h5``: constituents only) and its labels
  (``test_labels.npy``) are separate files, so a student's kernel can be given the inputs
  and never the labels: :func:`hidden_test_features` and :func:`hidden_test_constituents`
  read only the inputs; :func:`hidden_test_labels` is for the grader.

Features are computed on first use and cached, in memory and on disk under
``$DL4PHYS_CACHE`` (default: the user cache folder of platformdirs, ``~/.cache/dl4phys`` on Linux), keyed by the content hash of the input
file; a cache that cannot be written is silently skipped.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import numpy as np
import pandas as pd

from . import io
from .features import FEATURE_COLUMNS, jet_features

#: Bump when the features change, to invalidate disk caches.
FEATURES_VERSION = 2
SPLITS = ("train", "valid", "test")

_MEMORY: dict = {}


def _file_digest(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()[:20]


def cache_root() -> Path:
    """``$DL4PHYS_CACHE``, else the user cache folder of platformdirs (``~/.cache/dl4phys`` on Linux)."""
    env = os.environ.get("DL4PHYS_CACHE")
    if env:
        return Path(env)
    import platformdirs

    return Path(platformdirs.user_cache_dir("dl4phys"))


def feature_cache_dir() -> Path:
    """Where computed features are kept: ``cache_root() / "features"``."""
    return cache_root() / "features"


def warm_feature_cache() -> None:
    """Compute and cache, once per machine, the features of ``train``, ``valid`` and (where present) the hidden split.

    The grader calls this before grading a jet assignment and shows the cache to the sandboxed
    kernels read-only, so that each graded notebook reads the features instead of recomputing them.
    A cache that cannot be written is skipped, as in :func:`load_features`.
    """
    paths = [io.sample_path("train"), io.sample_path("valid")]
    try:
        paths.append(io.hidden_file(io.HIDDEN_INPUTS))
    except io.HiddenDataUnavailable:
        pass
    for path in paths:
        _features_of_file(path)


def _features_of_file(path: Path) -> pd.DataFrame:
    """Features of every jet of a reference-format file (cached)."""
    path = Path(path)
    stat = path.stat()
    mem_key = (str(path.resolve()), stat.st_size, stat.st_mtime_ns)
    if mem_key in _MEMORY:
        return _MEMORY[mem_key].copy()
    digest = _file_digest(path)
    cache = feature_cache_dir() / f"v{FEATURES_VERSION}-{digest}.npy"
    feats = None
    if cache.is_file():
        try:
            values = np.load(cache)
            feats = pd.DataFrame(values, columns=FEATURE_COLUMNS)
            feats["n_constituents"] = feats["n_constituents"].astype(np.int64)
        except Exception:
            feats = None
    if feats is None:
        feats = jet_features(io.constituents(io.read_jets(path)))
        try:
            cache.parent.mkdir(parents=True, exist_ok=True)
            tmp = cache.with_name(cache.name + f".{os.getpid()}.tmp.npy")
            np.save(tmp, feats[FEATURE_COLUMNS].to_numpy(dtype=np.float64))
            os.replace(tmp, cache)
        except OSError:
            pass
    _MEMORY[mem_key] = feats
    return feats.copy()


def _check_split(split: str) -> None:
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; expected one of {', '.join(SPLITS)}")


def load_jets(split: str) -> pd.DataFrame:
    """The reference-format DataFrame of a shipped split (``train`` or ``valid``)."""
    return io.read_jets(io.sample_path(split))


def load_features(split: str) -> pd.DataFrame:
    """Features table of a split, with an int ``label`` column (1 = top, 0 = QCD).

    Args:
        split: ``train`` or ``valid`` (the shipped sample) or ``test`` (the hidden split;
            raises :class:`~dl4phys.data.io.HiddenDataUnavailable` where it is absent).
    Returns:
        DataFrame with the columns of :func:`dl4phys.data.jet_features` plus ``label``
        (int64), one row per jet in file order.
    """
    _check_split(split)
    if split == "test":
        feats = hidden_test_features()
        feats["label"] = hidden_test_labels()
        return feats
    path = io.sample_path(split)
    feats = _features_of_file(path)
    feats["label"] = io.labels(io.read_jets(path))
    return feats


def load_constituents(split: str):
    """Constituents and labels of a shipped split.

    Args:
        split: ``train`` or ``valid``. (For the hidden split use
            :func:`hidden_test_constituents`; its labels are the grader's.)
    Returns:
        ``(constituents, labels)``: float32 array (n, 200, 4) of (E, px, py, pz) and int64
        array (n,) with 1 = top, 0 = QCD.
    """
    _check_split(split)
    if split == "test":
        raise ValueError(
            "load_constituents('test') is not available: use hidden_test_constituents() "
            "(inputs only); the hidden labels are read by the grader"
        )
    df = load_jets(split)
    return io.constituents(df), io.labels(df)


def hidden_test_constituents() -> np.ndarray:
    """Constituents of the hidden test split, float32 (n, 200, 4); no labels."""
    return io.constituents(io.read_jets(io.hidden_file(io.HIDDEN_INPUTS)))


def hidden_test_features() -> pd.DataFrame:
    """Features of the hidden test split (no ``label`` column)."""
    return _features_of_file(io.hidden_file(io.HIDDEN_INPUTS))


def hidden_test_labels() -> np.ndarray:
    """Labels of the hidden test split (grader side only), int64 (n,), 1 = top."""
    return np.load(io.hidden_file(io.HIDDEN_LABELS)).astype(np.int64)
