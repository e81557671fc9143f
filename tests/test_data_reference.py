"""download_reference (pooch) against small files served by a local HTTP server on 127.0.0.1.

The server is a real ``http.server`` in a thread, so the tests run the real download code:
full download, checksum verification, pooch's cache (no second download, a wrong file is
fetched again), a transfer that breaks off (nothing is left under the file's name, a retry
or a second call finishes it), HTTP errors and the error when nothing is listening.
Nothing here leaves 127.0.0.1: proxies are switched off for it.
"""

from __future__ import annotations

import hashlib
import socket
import subprocess
import sys

import pytest

from dl4phys.data import DownloadError, download_reference
from dl4phys.data.reference import REFERENCE_MD5

from .conftest import REPO
from .file_server import FileServer

pytestmark = pytest.mark.data

PAYLOAD = bytes(range(256)) * 300  # 76.8 kB, more than one chunk
MD5 = hashlib.md5(PAYLOAD).hexdigest()


@pytest.fixture(autouse=True)
def _no_proxy(monkeypatch):
    for var in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    monkeypatch.setenv("no_proxy", "127.0.0.1")


@pytest.fixture()
def server():
    with FileServer({"train.h5": PAYLOAD, "val.h5": PAYLOAD[:1000]}, "records/x/files/") as files:
        yield files


def _fetch(tmp_path, url, name="train.h5", **kwargs):
    kwargs = {"progress": False, "retries": 0, **kwargs}
    return download_reference(tmp_path, files=[name], base_url=url, **kwargs)


def test_download_and_checksum(server, tmp_path):
    out = _fetch(tmp_path, server.url, checksums={"train.h5": MD5})
    assert out["train.h5"].read_bytes() == PAYLOAD
    assert sorted(p.name for p in tmp_path.iterdir()) == ["MD5SUMS", "train.h5"]
    assert (tmp_path / "MD5SUMS").read_text() == f"{MD5}  train.h5\n"
    # A second call finds the verified file and does not download again.
    _fetch(tmp_path, server.url, checksums={"train.h5": MD5})
    assert server.requests == ["train.h5"]


def test_unknown_checksum_is_computed_and_kept_with_the_others(server, tmp_path):
    _fetch(tmp_path, server.url)
    _fetch(tmp_path, server.url, name="val.h5")
    _fetch(tmp_path, server.url)  # there already: no download
    assert server.requests == ["train.h5", "val.h5"]
    val_md5 = hashlib.md5(PAYLOAD[:1000]).hexdigest()
    assert (tmp_path / "MD5SUMS").read_text() == f"{MD5}  train.h5\n{val_md5}  val.h5\n"


def test_bad_checksum_is_an_error_and_removes_the_download(server, tmp_path):
    with pytest.raises(DownloadError, match="checksum mismatch for train.h5") as info:
        _fetch(tmp_path, server.url, checksums={"train.h5": "0" * 32})
    assert "\n" not in str(info.value) and "REFERENCE_MD5" in str(info.value)
    assert list(tmp_path.iterdir()) == []  # neither the file nor pooch's temporary one


def test_wrong_file_on_disk_is_downloaded_again(server, tmp_path):
    (tmp_path / "train.h5").write_bytes(b"an old, different file")
    out = _fetch(tmp_path, server.url, checksums={"train.h5": MD5})
    assert out["train.h5"].read_bytes() == PAYLOAD
    assert server.requests == ["train.h5"]


def test_broken_off_transfer_leaves_nothing_and_a_second_call_finishes(server, tmp_path):
    server.break_off = {"train.h5"}
    with pytest.raises(DownloadError, match="broke off .*tries: 1.*run it again") as info:
        _fetch(tmp_path, server.url)
    assert "\n" not in str(info.value)
    assert list(tmp_path.iterdir()) == []
    assert _fetch(tmp_path, server.url)["train.h5"].read_bytes() == PAYLOAD


def test_broken_off_transfer_is_retried(server, tmp_path, monkeypatch):
    import pooch.core

    monkeypatch.setattr(pooch.core.time, "sleep", lambda seconds: None)  # pooch waits 1 s before a retry
    server.break_off = {"train.h5"}
    out = _fetch(tmp_path, server.url, checksums={"train.h5": MD5}, retries=1)
    assert out["train.h5"].read_bytes() == PAYLOAD
    assert server.requests == ["train.h5", "train.h5"]


def test_http_error_is_one_line(server, tmp_path):
    with pytest.raises(DownloadError, match="HTTP 404") as info:
        _fetch(tmp_path, server.url, name="test.h5")
    assert "\n" not in str(info.value)


def test_unreachable_server_gives_a_clear_error(tmp_path):
    # A port on 127.0.0.1 with nothing listening: connection refused at once.
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(DownloadError, match="cannot reach .*internet access") as info:
        _fetch(tmp_path, f"http://127.0.0.1:{port}/", timeout=5)
    assert "\n" not in str(info.value)
    assert "zenodo.org/records/2603256" in str(info.value)


def test_cli_prints_the_md5(server, tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "dl4phys.data", "download", "--dest", str(tmp_path), "--base-url", server.url]
        + ["--files", "val.h5"],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert f"{hashlib.md5(PAYLOAD[:1000]).hexdigest()}  val.h5" in proc.stdout.splitlines()


def test_default_files_are_the_zenodo_record():
    assert set(REFERENCE_MD5) == {"train.h5", "val.h5", "test.h5"}
