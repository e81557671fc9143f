"""Download the public top-tagging reference dataset (Kasieczka, Plehn, Thompson, Russel).

"Top Quark Tagging Reference Dataset", Zenodo record 2603256, doi:10.5281/zenodo.2603256,
used by "The Machine Learning Landscape of Top Taggers", SciPost Phys. 7, 014 (2019).
Three pandas HDF5 files (key ``table``, the format of :mod:`dl4phys.data.io`):
``train.h5`` (1.2M jets), ``val.h5`` (400k) and ``test.h5`` (400k), about 1.6 GB together.
Read them with :func:`dl4phys.data.read_jets` like the generated files.

Checksums: Zenodo publishes an md5 per file on the record page. They could not be looked up
from the machine this module was written on (no internet), so :data:`REFERENCE_MD5` holds
``None`` for the three files: the download is then checked against the server's
``Content-Length`` only, and the md5 of each finished file is printed and written to
``<dest>/MD5SUMS`` so that it can be compared with the record page and pinned here.
When a checksum is known (or passed in ``checksums``) a mismatch is an error.

Downloads are resumable: data go to ``<name>.part`` and an interrupted download continues
with an HTTP ``Range`` request; the file gets its final name only once it is complete
(and verified).
"""

from __future__ import annotations

import hashlib
import os
import urllib.error
import urllib.request
from pathlib import Path

#: The Zenodo record's file URLs are ``BASE_URL + name``.
BASE_URL = "https://zenodo.org/records/2603256/files/"
RECORD_URL = "https://zenodo.org/records/2603256"
#: md5 of each file of the record; ``None`` = not known here (see the module docstring).
REFERENCE_MD5: dict[str, str | None] = {
    "train.h5": None,
    "val.h5": None,
    "test.h5": None,
}
_BLOCK = 1 << 16


class DownloadError(RuntimeError):
    """A download failed; the message is one line and says what to do."""


def _md5(path: Path) -> str:
    h = hashlib.md5()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _open(url: str, start: int, timeout: float):
    request = urllib.request.Request(url, headers={"User-Agent": "dl4phys-data/1"})
    if start > 0:
        request.add_header("Range", f"bytes={start}-")
    return urllib.request.urlopen(request, timeout=timeout)


def download_file(url: str, path, md5: str | None = None, progress: bool = True, timeout: float = 30.0) -> Path:
    """Download ``url`` to ``path``, resuming a previous partial download.

    Args:
        url: http(s) URL.
        path: final file path; partial data are kept in ``<path>.part``.
        md5: expected md5 hex digest, or None to skip the check.
        progress: show a tqdm progress bar (bytes).
        timeout: socket timeout in seconds.
    Returns:
        ``path``.
    Raises:
        DownloadError: the server cannot be reached, answers with an error, the transfer is
            short, or the checksum does not match (the bad file is removed).
    """
    from tqdm.auto import tqdm

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.is_file() and (md5 is None or _md5(path) == md5):
        return path
    part = path.with_name(path.name + ".part")
    start = part.stat().st_size if part.is_file() else 0
    try:
        try:
            response = _open(url, start, timeout)
        except urllib.error.HTTPError as exc:
            if exc.code == 416 and start > 0:  # nothing left to fetch: the part is complete
                response = None
            else:
                raise
        if response is not None:
            with response:
                status = getattr(response, "status", 200)
                if status == 206:
                    mode = "ab"
                else:  # the server ignored the Range header: start again
                    mode, start = "wb", 0
                length = response.headers.get("Content-Length")
                total = start + int(length) if length is not None else None
                with open(part, mode) as fh, tqdm(
                    total=total, initial=start, unit="B", unit_scale=True, unit_divisor=1024,
                    desc=path.name, disable=not progress,
                ) as bar:
                    for block in iter(lambda: response.read(_BLOCK), b""):
                        fh.write(block)
                        bar.update(len(block))
                size = part.stat().st_size
                if total is not None and size != total:
                    raise DownloadError(
                        f"download of {url} stopped at {size} of {total} bytes; run it again to resume"
                    )
    except urllib.error.HTTPError as exc:
        raise DownloadError(f"the server refused {url}: HTTP {exc.code} {exc.reason}") from None
    except (urllib.error.URLError, ConnectionError, TimeoutError) as exc:
        reason = getattr(exc, "reason", exc)
        raise DownloadError(
            f"cannot reach {url} ({reason}): the reference dataset needs internet access; "
            f"download it by hand from {RECORD_URL} and read it with dl4phys.data.read_jets"
        ) from None
    if md5 is not None:
        got = _md5(part)
        if got != md5:
            part.unlink()
            raise DownloadError(f"checksum mismatch for {path.name}: md5 {got}, expected {md5}; the file was removed")
    os.replace(part, path)
    return path


def download_reference(dest, files=None, base_url: str = BASE_URL, checksums=None, progress: bool = True,
                       timeout: float = 30.0) -> dict:
    """Download the top-tagging reference dataset into ``dest``.

    Args:
        dest: target directory (created).
        files: names to fetch (default: ``train.h5``, ``val.h5``, ``test.h5``).
        base_url: where the files live (default: the Zenodo record); a file's URL is
            ``base_url`` + name.
        checksums: dict name -> md5 (default :data:`REFERENCE_MD5`; ``None`` skips a check).
        progress: show progress bars.
        timeout: socket timeout in seconds.
    Returns:
        dict name -> Path of each downloaded file. The md5 of every file is also written to
        ``<dest>/MD5SUMS`` (``md5sum -c`` format).
    Raises:
        DownloadError: with a one-line message (offline, HTTP error, bad checksum, ...).
    """
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    names = list(files) if files is not None else list(REFERENCE_MD5)
    sums = dict(REFERENCE_MD5)
    if checksums is not None:
        sums.update(checksums)
    base = base_url if base_url.endswith("/") else base_url + "/"
    out = {}
    for name in names:
        out[name] = download_file(base + name, dest / name, md5=sums.get(name), progress=progress, timeout=timeout)
    with open(dest / "MD5SUMS", "w") as fh:
        for name, path in out.items():
            fh.write(f"{_md5(path)}  {name}\n")
    return out
