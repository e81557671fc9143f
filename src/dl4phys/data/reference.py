"""Download the public top-tagging reference dataset (Kasieczka, Plehn, Thompson, Russel).

"Top Quark Tagging Reference Dataset", Zenodo record 2603256, doi:10.5281/zenodo.2603256,
used by "The Machine Learning Landscape of Top Taggers", SciPost Phys. 7, 014 (2019).
Three pandas HDF5 files (key ``table``, the format of :mod:`dl4phys.data.io`):
``train.h5`` (1.2M jets), ``val.h5`` (400k) and ``test.h5`` (400k), about 1.6 GB together.
Read them with :func:`dl4phys.data.read_jets` like the generated files.

The download is pooch's (``pip install pooch``, in the ``grading`` extra): a file streams into a
temporary file beside its final name and gets that name only once it is complete and matches its
md5 (where one is known), so an interrupted or corrupt download never looks like a finished file.
A file that is already there (and matches its md5, where known) is not fetched again. A failed
transfer (also a body shorter than its ``Content-Length``) is tried :data:`RETRIES` more times;
pooch does not resume, each try starts the file over.

Checksums: Zenodo publishes an md5 per file on the record page. They could not be looked up
from the machine this module was written on (no internet), so :data:`REFERENCE_MD5` holds
``None`` for the three files, and the md5 of each finished file is written to
``<dest>/MD5SUMS`` (and printed by ``python -m dl4phys.data download``) so that it can be
compared with the record page and pinned here. When a checksum is known (or passed in
``checksums``) a mismatch is an error.
"""

from __future__ import annotations

from pathlib import Path

from ._util import require

#: The Zenodo record's file URLs are ``BASE_URL + name``.
BASE_URL = "https://zenodo.org/records/2603256/files/"
RECORD_URL = "https://zenodo.org/records/2603256"
#: md5 of each file of the record; ``None`` = not known here (see the module docstring).
REFERENCE_MD5: dict[str, str | None] = {
    "train.h5": None,
    "val.h5": None,
    "test.h5": None,
}
#: Further tries of a file after a failed transfer or a checksum mismatch.
RETRIES = 2
_CHUNK = 1 << 16


class DownloadError(RuntimeError):
    """A download failed; the message is one line and says what to do."""


def download_reference(
    dest,
    files=None,
    base_url: str = BASE_URL,
    checksums=None,
    progress: bool = True,
    timeout: float = 30.0,
    retries: int = RETRIES,
) -> dict:
    """Download the top-tagging reference dataset into ``dest``.

    Args:
        dest: target directory (created).
        files: names to fetch (default: ``train.h5``, ``val.h5``, ``test.h5``).
        base_url: where the files live (default: the Zenodo record); a file's URL is
            ``base_url`` + name.
        checksums: dict name -> md5 (default :data:`REFERENCE_MD5`; ``None`` skips a check).
        progress: show progress bars.
        timeout: socket timeout in seconds.
        retries: further tries of a file after a failed transfer or a checksum mismatch.
    Returns:
        dict name -> Path of each downloaded file. The md5 of every file is also written to
        ``<dest>/MD5SUMS`` (``md5sum -c`` format; lines of other files already there are kept).
    Raises:
        DownloadError: with a one-line message (offline, HTTP error, bad checksum, ...).
        ImportError: pooch is not installed (the message says how to install it).
    """
    pooch = require("pooch", purpose="the reference download")
    dest = Path(dest).expanduser()
    dest.mkdir(parents=True, exist_ok=True)
    names = list(files) if files is not None else list(REFERENCE_MD5)
    sums = {**REFERENCE_MD5, **(checksums or {})}
    registry = {name: f"md5:{sums[name]}" if sums.get(name) else None for name in names}
    fetcher = pooch.create(path=dest, base_url=base_url, registry=registry, retry_if_failed=retries)
    out, md5 = {}, {}
    for name in names:
        out[name] = Path(_fetch(pooch, fetcher, name, progress, timeout))
        known = sums.get(name)  # then pooch has checked it
        md5[name] = known.lower() if known else pooch.file_hash(str(out[name]), alg="md5")
    _update_md5sums(dest / "MD5SUMS", md5)
    return out


def _fetch(pooch, fetcher, name: str, progress: bool, timeout: float) -> str:
    """``fetcher.fetch(name)`` with one-line errors (pooch logs the file's name before its progress bar)."""
    import requests

    url, tries = fetcher.get_url(name), fetcher.retry_if_failed + 1
    try:
        return fetcher.fetch(name, downloader=pooch.HTTPDownloader(progressbar=progress, chunk_size=_CHUNK, timeout=timeout))
    except requests.HTTPError as exc:
        response = exc.response
        raise DownloadError(f"the server refused {url}: HTTP {response.status_code} {response.reason}") from None
    except (requests.ConnectionError, requests.Timeout) as exc:
        raise DownloadError(
            f"cannot reach {url} ({_reason(exc)}): the reference dataset needs internet access; "
            f"download it by hand from {RECORD_URL} and read it with dl4phys.data.read_jets"
        ) from None
    except requests.RequestException as exc:
        raise DownloadError(f"the download of {url} broke off ({_reason(exc)}; tries: {tries}); run it again") from None
    except ValueError as exc:  # pooch's checksum mismatch, after every try
        raise DownloadError(
            f"checksum mismatch for {name} (tries: {tries}), the download was removed: {_reason(exc)} "
            f"If the record changed, compare REFERENCE_MD5 in dl4phys/data/reference.py with {RECORD_URL}"
        ) from None


def _reason(exc: BaseException) -> str:
    """The innermost reason of a requests/urllib3 error, on one line."""
    reason = exc.args[0] if exc.args else exc
    reason = getattr(reason, "reason", reason)  # urllib3's MaxRetryError wraps the real one
    if isinstance(reason, BaseException) and reason.args and isinstance(reason.args[0], str):
        reason = reason.args[0]  # e.g. urllib3's ProtocolError(message, IncompleteRead(...))
    return " ".join(str(reason).split())


def _update_md5sums(path: Path, md5: dict) -> None:
    sums = {}
    if path.is_file():
        for line in path.read_text().splitlines():
            digest, _, name = line.partition("  ")
            sums[name] = digest
    sums.update(md5)
    path.write_text("".join(f"{digest}  {name}\n" for name, digest in sums.items()))
