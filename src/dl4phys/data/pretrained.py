"""ImageNet weights of torchvision's ResNet-18, from the course cache (homework 4's transfer learning).

The grader runs notebooks without network access, so a notebook cannot download pretrained weights
while it is graded. As with the jet features, the instructor fetches them once into the course cache,
``cache_root() / "weights"`` (``$DL4PHYS_CACHE/weights``, else ``~/.cache/dl4phys/weights``)::

    python -m dl4phys.data weights

and the grader shows that folder read-only to the sandboxed kernels. A notebook asks for the weights
with :func:`resnet18_weights`: they come from the cache; where they are not there yet and the machine
is online (a student's laptop, Colab), they are downloaded into the cache once; otherwise the function
says so in one line and returns ``None``, and the notebook carries on with random weights.

The file is torchvision's own (``ResNet18_Weights.IMAGENET1K_V1``), under torchvision's file name,
``resnet18-<hash>.pth``, where ``<hash>`` is the start of the file's SHA-256 (torch.hub's convention):
a download is checked against it, and a file that does not match is deleted. Downloads use pooch.

This module answers no exercise: it hands out a state dict; adapting the network is the student's work.
"""

from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path

from .splits import cache_root

#: torchvision's ResNet18_Weights.IMAGENET1K_V1 (the default ImageNet weights of resnet18).
RESNET18_URL = "https://download.pytorch.org/models/resnet18-f37072fd.pth"
#: The per-channel (R, G, B) mean and standard deviation of ImageNet's images, with pixels in [0, 1]:
#: torchvision's pretrained networks expect their inputs normalised with these.
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
_HASH_PREFIX = re.compile(r"-([a-f0-9]{6,64})\.")  # torch.hub's file-name convention


class WeightsUnavailable(RuntimeError):
    """The weights cannot be had (offline, the server refuses, the checksum differs); the message is one line."""


def weights_dir() -> Path:
    """Where pretrained weights are kept: ``cache_root() / "weights"``."""
    return cache_root() / "weights"


def hash_prefix(url_or_name: str) -> str:
    """The start of the SHA-256 that torchvision's file name carries (``resnet18-f37072fd.pth`` -> ``f37072fd``)."""
    name = url_or_name.rsplit("/", 1)[-1]
    match = _HASH_PREFIX.search(name)
    if match is None:
        raise ValueError(f"{name!r} carries no checksum: expected torchvision's form name-<sha256 prefix>.pth")
    return match.group(1)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _remove(path: Path) -> None:
    try:
        path.unlink()
    except FileNotFoundError:
        pass


def _short(err: BaseException) -> str:
    """One short line for an error: requests' connection errors nest the reason deep in a long message."""
    text = str(err).splitlines()[0] if str(err) else ""
    for known in (
        "Connection refused",
        "Name or service not known",
        "Temporary failure in name resolution",
        "Network is unreachable",
        "timed out",
    ):
        if known in text:
            return f"{type(err).__name__}, {known.lower()}"
    return f"{type(err).__name__}: {text[:120]}" if text else type(err).__name__


def download_weights(
    url: str = RESNET18_URL, folder: str | os.PathLike | None = None, *, progress: bool = True, timeout: float = 60.0
) -> Path:
    """Download the weights file at ``url`` into ``folder`` (default :func:`weights_dir`), once; return its path.

    A file already there is not downloaded again. The download goes to a temporary name and gets its
    final name only once its SHA-256 starts with the prefix in the file name.

    Raises:
        WeightsUnavailable: offline, an HTTP error, a checksum that differs (the file is deleted), or a
            folder that cannot be written.
    """
    import logging

    import pooch

    folder = Path(folder) if folder is not None else weights_dir()
    name = url.rsplit("/", 1)[-1]
    prefix = hash_prefix(name)
    path = folder / name
    if path.is_file():
        return path
    part = folder / f"{name}.{os.getpid()}.part"
    try:
        folder.mkdir(parents=True, exist_ok=True)
        _remove(part)
    except OSError as err:
        raise WeightsUnavailable(f"cannot write {folder} ({err.strerror or type(err).__name__})") from None
    logger = pooch.get_logger()
    level = logger.level
    logger.setLevel(logging.WARNING)  # pooch announces every download on stderr
    try:
        pooch.retrieve(
            url,
            known_hash=None,
            fname=part.name,
            path=folder,
            downloader=pooch.HTTPDownloader(progressbar=progress, timeout=timeout),
        )
    except Exception as err:  # requests' errors (no network, refused, an HTTP status) and OSError
        _remove(part)
        raise WeightsUnavailable(f"cannot download {url}: {_short(err)}") from None
    finally:
        logger.setLevel(level)
    got = _sha256(part)
    if not got.startswith(prefix):
        _remove(part)
        raise WeightsUnavailable(
            f"checksum mismatch for {name}: SHA-256 {got[:16]}..., expected {prefix}...; the file was deleted"
        )
    os.replace(part, path)
    return path


def resnet18_weights(*, download: bool = True, url: str = RESNET18_URL):
    """The ImageNet weights of ``torchvision.models.resnet18`` as a state dict, or ``None`` (said in one line).

    From the course cache (:func:`weights_dir`); where they are missing and ``download`` is true, they are
    downloaded into it first (online machines only). ``None`` means "use random weights": the reason is
    printed as one line, and nothing is raised.

    Returns:
        dict of tensors on the CPU, for ``torchvision.models.resnet18(weights=None).load_state_dict``;
        or ``None``.
    """
    import torch

    path = weights_dir() / url.rsplit("/", 1)[-1]
    try:
        if not path.is_file():
            if not download:
                raise WeightsUnavailable(f"not in {path.parent}")
            path = download_weights(url, path.parent, progress=False, timeout=20.0)
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # never fail a notebook for want of pretrained weights
        reason = str(err).splitlines()[0] if str(err) else type(err).__name__
        print(f"ImageNet weights of ResNet-18 unavailable ({reason}): starting from random weights.")
        return None


__all__ = [
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "RESNET18_URL",
    "WeightsUnavailable",
    "download_weights",
    "hash_prefix",
    "resnet18_weights",
    "weights_dir",
]
