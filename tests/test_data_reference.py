"""download_reference against a small file served by a local HTTP server on 127.0.0.1.

The server is a real ``http.server`` in a thread that understands ``Range`` requests, so
the tests run the real download code: full download, checksum verification, resuming a
partial file, and the error when the server cannot be reached.
"""

from __future__ import annotations

import hashlib
import http.server
import socket
import threading

import pytest

from dl4phys.data import DownloadError, download_reference
from dl4phys.data.reference import REFERENCE_MD5

pytestmark = pytest.mark.data

PAYLOAD = bytes(range(256)) * 300  # 76.8 kB, more than one read block


class _RangeHandler(http.server.BaseHTTPRequestHandler):
    files: dict = {}
    requests: list = []

    def log_message(self, *args):  # keep pytest output clean
        pass

    def do_GET(self):
        name = self.path.split("?")[0].rsplit("/", 1)[-1]
        type(self).requests.append((name, self.headers.get("Range")))
        data = self.files.get(name)
        if data is None:
            self.send_error(404)
            return
        rng = self.headers.get("Range")
        if rng:
            start = int(rng.split("=")[1].split("-")[0])
            if start >= len(data):
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{len(data)}")
                self.end_headers()
                return
            body = data[start:]
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        else:
            body = data
            self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture()
def server():
    _RangeHandler.files = {"train.h5": PAYLOAD, "val.h5": PAYLOAD[:1000]}
    _RangeHandler.requests = []
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _RangeHandler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}/records/x/files/"
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(5)


def test_download_and_checksum(server, tmp_path):
    md5 = hashlib.md5(PAYLOAD).hexdigest()
    out = download_reference(tmp_path, files=["train.h5"], base_url=server, checksums={"train.h5": md5},
                             progress=False)
    assert out["train.h5"].read_bytes() == PAYLOAD
    assert not (tmp_path / "train.h5.part").exists()
    assert (tmp_path / "MD5SUMS").read_text() == f"{md5}  train.h5\n"
    # A second call finds the verified file and does not download again.
    n = len(_RangeHandler.requests)
    download_reference(tmp_path, files=["train.h5"], base_url=server, checksums={"train.h5": md5}, progress=False)
    assert len(_RangeHandler.requests) == n


def test_bad_checksum_is_an_error_and_removes_the_file(server, tmp_path):
    with pytest.raises(DownloadError, match="checksum mismatch for train.h5"):
        download_reference(tmp_path, files=["train.h5"], base_url=server, checksums={"train.h5": "0" * 32},
                           progress=False)
    assert not (tmp_path / "train.h5").exists()
    assert not (tmp_path / "train.h5.part").exists()


def test_partial_file_is_resumed_with_a_range_request(server, tmp_path):
    (tmp_path / "train.h5.part").write_bytes(PAYLOAD[:30000])
    md5 = hashlib.md5(PAYLOAD).hexdigest()
    out = download_reference(tmp_path, files=["train.h5"], base_url=server, checksums={"train.h5": md5},
                             progress=False)
    assert out["train.h5"].read_bytes() == PAYLOAD
    assert _RangeHandler.requests == [("train.h5", "bytes=30000-")]


def test_complete_part_file_is_finished(server, tmp_path):
    (tmp_path / "val.h5.part").write_bytes(PAYLOAD[:1000])
    out = download_reference(tmp_path, files=["val.h5"], base_url=server, progress=False)
    assert out["val.h5"].read_bytes() == PAYLOAD[:1000]
    assert _RangeHandler.requests == [("val.h5", "bytes=1000-")]


def test_http_error_is_one_line(server, tmp_path):
    with pytest.raises(DownloadError, match="HTTP 404") as info:
        download_reference(tmp_path, files=["test.h5"], base_url=server, progress=False)
    assert "\n" not in str(info.value)


def test_unreachable_server_gives_a_clear_error(tmp_path):
    # A port on 127.0.0.1 with nothing listening: connection refused at once.
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(DownloadError, match="cannot reach .*internet access") as info:
        download_reference(tmp_path, files=["train.h5"], base_url=f"http://127.0.0.1:{port}/", progress=False,
                           timeout=5)
    assert "\n" not in str(info.value)
    assert "zenodo.org/records/2603256" in str(info.value)


def test_default_files_are_the_zenodo_record():
    assert set(REFERENCE_MD5) == {"train.h5", "val.h5", "test.h5"}
