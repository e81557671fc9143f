"""dl4phys.data.pretrained against a small fake weights file served by a local HTTP server on 127.0.0.1.

The fake file is a real (tiny) PyTorch state dict saved under torchvision's naming convention,
``resnet18-<start of its SHA-256>.pth``, so the tests run the real code: the download with pooch, the
checksum from the file name, the cache that spares a second download, the command line, and the one
line a notebook prints (instead of failing) when the weights cannot be had.
"""

from __future__ import annotations

import hashlib
import http.server
import io
import socket
import threading

import pytest
import torch

from dl4phys.data import pretrained
from dl4phys.data.__main__ import main as data_main

pytestmark = pytest.mark.data

STATE = {"conv1.weight": torch.arange(12.0).reshape(2, 2, 3), "fc.bias": torch.tensor([0.5, -1.0])}


def _payload() -> bytes:
    buffer = io.BytesIO()
    torch.save(STATE, buffer)
    return buffer.getvalue()


PAYLOAD = _payload()
GOOD = f"resnet18-{hashlib.sha256(PAYLOAD).hexdigest()[:8]}.pth"
BAD = "resnet18-00000000.pth"  # the same bytes under a name whose checksum they do not match


class _Handler(http.server.BaseHTTPRequestHandler):
    files: dict = {}
    requests: list = []

    def log_message(self, *args):
        pass

    def do_GET(self):
        name = self.path.rsplit("/", 1)[-1]
        type(self).requests.append(name)
        data = self.files.get(name)
        if data is None:
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


@pytest.fixture()
def server():
    _Handler.files = {GOOD: PAYLOAD, BAD: PAYLOAD}
    _Handler.requests = []
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}/models/"
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(5)


@pytest.fixture()
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("DL4PHYS_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


def _same(state) -> bool:
    return state is not None and set(state) == set(STATE) and all(torch.equal(state[k], STATE[k]) for k in STATE)


def test_url_is_torchvisions_and_carries_its_checksum():
    torchvision = pytest.importorskip("torchvision")
    assert torchvision.models.ResNet18_Weights.IMAGENET1K_V1.url == pretrained.RESNET18_URL
    assert torchvision.models.ResNet18_Weights.DEFAULT == torchvision.models.ResNet18_Weights.IMAGENET1K_V1
    assert pretrained.hash_prefix(pretrained.RESNET18_URL) == "f37072fd"
    assert pretrained.weights_dir().name == "weights"


def test_download_once_into_the_cache_then_read_from_it(server, cache, capsys):
    state = pretrained.resnet18_weights(url=server + GOOD)
    assert _same(state)
    assert (cache / "weights" / GOOD).read_bytes() == PAYLOAD
    assert [p.name for p in (cache / "weights").iterdir()] == [GOOD]  # no partial file left
    assert _Handler.requests == [GOOD]
    assert _same(pretrained.resnet18_weights(url=server + GOOD))  # from the cache: no second request
    assert _Handler.requests == [GOOD]
    assert capsys.readouterr().out == ""


def test_checksum_mismatch_deletes_the_file(server, cache, capsys):
    with pytest.raises(pretrained.WeightsUnavailable, match="checksum mismatch for resnet18-00000000.pth"):
        pretrained.download_weights(server + BAD, progress=False)
    assert list((cache / "weights").iterdir()) == []
    assert pretrained.resnet18_weights(url=server + BAD) is None
    out = capsys.readouterr().out
    assert out.count("\n") == 1 and "checksum mismatch" in out and "random weights" in out


def test_offline_gives_none_and_one_line(cache, capsys):
    with socket.socket() as s:  # a port on 127.0.0.1 with nothing listening: refused at once
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    assert pretrained.resnet18_weights(url=f"http://127.0.0.1:{port}/models/{GOOD}") is None
    out = capsys.readouterr().out
    assert out.count("\n") == 1 and out.startswith("ImageNet weights of ResNet-18 unavailable (cannot download")
    assert not any((cache / "weights").iterdir())


def test_http_error_and_no_download(server, cache, capsys):
    with pytest.raises(pretrained.WeightsUnavailable, match="cannot download"):
        pretrained.download_weights(server + "resnet18-12345678.pth", progress=False)
    assert pretrained.resnet18_weights(url=server + GOOD, download=False) is None
    assert _Handler.requests == ["resnet18-12345678.pth"]
    assert "not in" in capsys.readouterr().out


def test_cache_that_cannot_be_written(server, tmp_path, monkeypatch, capsys):
    # (as root a read-only mode bit would not stop the test: a cache below a regular file cannot be made by anyone)
    (tmp_path / "a-file").write_text("")
    monkeypatch.setenv("DL4PHYS_CACHE", str(tmp_path / "a-file" / "cache"))
    assert pretrained.resnet18_weights(url=server + GOOD) is None
    out = capsys.readouterr().out
    assert out.count("\n") == 1 and "cannot write" in out
    assert _Handler.requests == []


def test_command_line(server, cache, tmp_path, capsys):
    assert data_main(["weights", "--url", server + GOOD, "--quiet"]) == 0
    assert capsys.readouterr().out.strip() == f"weights: {cache / 'weights' / GOOD}"
    assert data_main(["weights", "--url", server + BAD, "--dest", str(tmp_path / "elsewhere"), "--quiet"]) == 2
    assert "error: checksum mismatch" in capsys.readouterr().err
