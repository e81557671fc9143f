"""The record format shared by probes (writers, in the kernel) and the judge (reader, in the grader).

One ``.npz`` file per test cell, named after the cell's ``grade_id``. Each record is one array,
stored under its name; an extra array ``__meta__`` holds a JSON object ``{name: {...}}`` with, per
record, the rule it is judged by and a description of the input it was made on. Arrays are plain
numbers, booleans or strings: :func:`read_records` refuses object arrays, so a record file cannot
carry code, and it reads only a regular file, without following links, up to a size cap.
"""

from __future__ import annotations

import io
import json
import os
import re
import stat
import zipfile

import numpy as np

META_KEY = "__meta__"
#: Names of record files and records: what a grade_id may be, no path separators.
SAFE_NAME = re.compile(r"^[A-Za-z0-9_.+\- ()\[\],=:]{1,120}$")
#: The largest record file the judge reads (hidden-split predictions are 80 kB).
DEFAULT_MAX_BYTES = 32 * 2**20


class RecordError(ValueError):
    """A record file the judge cannot use (missing, not a regular file, too big, malformed)."""

    MISSING = "missing"  # the message when the kernel never wrote the file (its test did not run to its end)

    @property
    def missing(self) -> bool:
        return str(self) == self.MISSING


def file_name(grade_id: str) -> str:
    """The record file of a test cell."""
    if not SAFE_NAME.match(grade_id) or grade_id.startswith("."):
        raise ValueError(f"grade_id {grade_id!r} cannot name a record file: use letters, digits and _")
    return f"{grade_id}.npz"


def encode(records: dict[str, np.ndarray], meta: dict[str, dict]) -> bytes:
    """The bytes of a record file holding ``records`` and their ``meta`` (an ``.npz``).

    The same records give the same bytes (fixed zip timestamps), so reference records can be compared
    file by file.
    """
    buffer = io.BytesIO()
    arrays = {name: np.asarray(value) for name, value in records.items()}
    arrays[META_KEY] = np.array(json.dumps(meta))
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_STORED) as archive:
        for name, array in arrays.items():
            entry = zipfile.ZipInfo(f"{name}.npy", date_time=(1980, 1, 1, 0, 0, 0))
            member = io.BytesIO()
            np.lib.format.write_array(member, array, allow_pickle=False)
            archive.writestr(entry, member.getvalue())
    return buffer.getvalue()


def decode(data: bytes) -> tuple[dict[str, np.ndarray], dict[str, dict]]:
    """Records and meta from the bytes of a record file; :class:`RecordError` when malformed."""
    try:
        with np.load(io.BytesIO(data), allow_pickle=False) as archive:
            arrays = {name: archive[name] for name in archive.files}
    except (ValueError, OSError, EOFError, zipfile.BadZipFile, KeyError) as err:
        raise RecordError(f"not a record file ({type(err).__name__})") from err
    meta_array = arrays.pop(META_KEY, None)
    try:
        meta = json.loads(str(meta_array[()])) if meta_array is not None else {}
    except (ValueError, TypeError, IndexError) as err:
        raise RecordError("the record file's meta data is not JSON") from err
    if not isinstance(meta, dict) or not all(isinstance(v, dict) for v in meta.values()):
        raise RecordError("the record file's meta data is not a table of records")
    for name, value in arrays.items():
        if value.dtype.kind not in "biufcUS":  # numbers, booleans, strings: never objects
            raise RecordError(f"record {name!r} has dtype {value.dtype}, which is not plain data")
    return arrays, meta


def read_file_safely(path: str | os.PathLike, max_bytes: int = DEFAULT_MAX_BYTES, dir_fd: int | None = None) -> bytes:
    """The bytes of a regular file, opened without following links and without blocking.

    Raises :class:`RecordError` for a link, a FIFO, a socket, a device, a directory or a file larger
    than ``max_bytes``: whatever a student's kernel may have left at ``path`` is never followed,
    waited on, or read without bound.
    """
    flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(path, flags, dir_fd=dir_fd)
    except FileNotFoundError as err:
        raise RecordError(RecordError.MISSING) from err
    except OSError as err:  # ELOOP: a symbolic link; ENXIO: a FIFO without writer
        raise RecordError(f"not a regular file ({os.strerror(err.errno) if err.errno else err})") from err
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise RecordError("not a regular file")
        if info.st_size > max_bytes:
            raise RecordError(f"larger than {max_bytes // 2**20} MB")
        chunks, total = [], 0
        while True:
            chunk = os.read(fd, min(1 << 20, max_bytes + 1 - total))
            if not chunk:
                break
            chunks.append(chunk)
            total += len(chunk)
            if total > max_bytes:  # grew while we read
                raise RecordError(f"larger than {max_bytes // 2**20} MB")
        return b"".join(chunks)
    finally:
        os.close(fd)


def read_records(path: str | os.PathLike, max_bytes: int = DEFAULT_MAX_BYTES):
    """Records and meta of the record file at ``path`` (see :func:`read_file_safely`, :func:`decode`)."""
    return decode(read_file_safely(path, max_bytes))
