"""dl4phys.data.pretrained against a small fake weights file served by a local HTTP server on 127.0.0.1.

The fake file is a real (tiny) PyTorch state dict saved under torchvision's naming convention,
``resnet18-<start of its SHA-256>.pth``, so the tests run the real code: the download with pooch, the
checksum from the file name, the cache that spares a second download, the command line, and the one
line a notebook prints (instead of failing) when the weights cannot be had.
"""

from __future__ import annotations

import hashlib
import io
import socket

import pytest
import torch

from dl4phys.data import pretrained
from dl4phys.data.__main__ import main as data_main

from .file_server import FileServer

pytestmark = pytest.mark.data

STATE = {"conv1.weight": torch.arange(12.0).reshape(2, 2, 3), "fc.bias": torch.tensor([0.5, -1.0])}


def _payload() -> bytes:
    buffer = io.BytesIO()
    torch.save(STATE, buffer)
    return buffer.getvalue()


PAYLOAD = _payload()
GOOD = f"resnet18-{hashlib.sha256(PAYLOAD).hexdigest()[:8]}.pth"
BAD = "resnet18-00000000.pth"  # the same bytes under a name whose checksum they do not match


@pytest.fixture()
def server():
    with FileServer({GOOD: PAYLOAD, BAD: PAYLOAD}, "models/") as files:
        yield files


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
    state = pretrained.resnet18_weights(url=server.url + GOOD)
    assert _same(state)
    assert (cache / "weights" / GOOD).read_bytes() == PAYLOAD
    assert [p.name for p in (cache / "weights").iterdir()] == [GOOD]  # no partial file left
    assert server.requests == [GOOD]
    assert _same(pretrained.resnet18_weights(url=server.url + GOOD))  # from the cache: no second request
    assert server.requests == [GOOD]
    assert capsys.readouterr().out == ""


def test_checksum_mismatch_deletes_the_file(server, cache, capsys):
    with pytest.raises(pretrained.WeightsUnavailable, match="checksum mismatch for resnet18-00000000.pth"):
        pretrained.download_weights(server.url + BAD, progress=False)
    assert list((cache / "weights").iterdir()) == []
    assert pretrained.resnet18_weights(url=server.url + BAD) is None
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
        pretrained.download_weights(server.url + "resnet18-12345678.pth", progress=False)
    assert pretrained.resnet18_weights(url=server.url + GOOD, download=False) is None
    assert server.requests == ["resnet18-12345678.pth"]
    assert "not in" in capsys.readouterr().out


def test_cache_that_cannot_be_written(server, tmp_path, monkeypatch, capsys):
    # (as root a read-only mode bit would not stop the test: a cache below a regular file cannot be made by anyone)
    (tmp_path / "a-file").write_text("")
    monkeypatch.setenv("DL4PHYS_CACHE", str(tmp_path / "a-file" / "cache"))
    assert pretrained.resnet18_weights(url=server.url + GOOD) is None
    out = capsys.readouterr().out
    assert out.count("\n") == 1 and "cannot write" in out
    assert server.requests == []


def test_command_line(server, cache, tmp_path, capsys):
    assert data_main(["weights", "--url", server.url + GOOD, "--quiet"]) == 0
    assert capsys.readouterr().out.strip() == f"weights: {cache / 'weights' / GOOD}"
    assert data_main(["weights", "--url", server.url + BAD, "--dest", str(tmp_path / "elsewhere"), "--quiet"]) == 2
    assert "error: checksum mismatch" in capsys.readouterr().err
