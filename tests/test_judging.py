"""Does the judge decide hidden tests from records alone, exactly by their rules, and refuse what a kernel could fake?"""

from __future__ import annotations

import os
import shutil
import socket

import nbformat
import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from dl4phys.judging.auc import check_tiers, tiered_auc_scorer
from dl4phys.judging.judge import ReferenceError, judge_cell
from dl4phys.judging.probe import RECORDS_ENV, probe
from dl4phys.judging.records import RecordError, decode, encode, read_records

from .conftest import REPO, SOURCE


def _records(tmp_path, monkeypatch, name: str, fill):
    """The (records, meta) a probe writes when ``fill(p)`` records into it."""
    monkeypatch.setenv(RECORDS_ENV, str(tmp_path / name))
    with probe("test_cell") as p:
        fill(p)
    return read_records(tmp_path / name / "test_cell.npz")


@pytest.fixture
def reference(tmp_path, monkeypatch):
    def fill(p):
        p.close("value", torch.tensor([1.0, 2.0, 3.0], dtype=torch.float64), rtol=1e-8, what="f of x")
        p.equal("device", "cpu", what="the device")
        p.check("in place", True, what="updates in place")

    return _records(tmp_path, monkeypatch, "reference", fill)


def test_identical_records_pass(reference, tmp_path, monkeypatch):
    """Do a student's records equal to the reference's get the cell's points?"""
    student = _records(
        tmp_path,
        monkeypatch,
        "student",
        lambda p: (
            p.close("value", torch.tensor([1.0, 2.0, 3.0], dtype=torch.float64)),
            p.equal("device", "cpu"),
            p.check("in place", True),
        ),
    )
    verdict = judge_cell(reference, student, 2)
    assert verdict.passed and verdict.points == 2


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (torch.tensor([1.0, 2.0, 3.0001], dtype=torch.float64), "differs by up to 1.00e-04"),
        (torch.tensor([1.0, float("nan"), 3.0], dtype=torch.float64), "NaN"),
        (torch.tensor([1.0, 2.0], dtype=torch.float64), "shape (2,), expected shape (3,)"),
        (torch.tensor([[1.0, 2.0, 3.0]], dtype=torch.float64), "shape (1, 3), expected shape (3,)"),
        (torch.tensor([1.0, 2.0, 3.0], dtype=torch.float32), "dtype float32, expected float64"),
        (None, "not a value the test can use"),
        ("1, 2, 3", "shape (), expected shape (3,)"),
    ],
)
def test_wrong_values_fail_with_a_reason_and_no_expected_value(reference, tmp_path, monkeypatch, value, reason):
    """Is a record off by more than the tolerance, NaN, of the wrong shape or dtype, or not a value, judged wrong, saying how but not what was expected?"""
    student = _records(
        tmp_path, monkeypatch, "student", lambda p: (p.close("value", value), p.equal("device", "cpu"), p.check("in place", True))
    )
    verdict = judge_cell(reference, student, 2)
    assert verdict.points == 0
    assert reason in verdict.message() and "f of x" in verdict.message()
    assert "2.0" not in verdict.message() and "[1." not in verdict.message()


def test_missing_records_and_missing_files_fail(reference, tmp_path, monkeypatch):
    """Does a record the student's run never made, or no record file at all, fail the cell?"""

    def stops(p):
        p.close("value", torch.tensor([1.0, 2.0, 3.0], dtype=torch.float64))
        raise ValueError("the student's code raised")

    with pytest.raises(ValueError):
        _records(tmp_path, monkeypatch, "student", stops)
    student = read_records(tmp_path / "student" / "test_cell.npz")
    verdict = judge_cell(reference, student, 2)
    assert verdict.points == 0 and "no result (the test stopped at ValueError)" in verdict.message()
    assert judge_cell(reference, RecordError("missing"), 2).points == 0


def test_rules_come_from_the_reference_not_from_the_student(reference, tmp_path, monkeypatch):
    """Can a student's record file loosen a tolerance or turn a check into something else? (No: rules are the reference's.)"""
    student = _records(
        tmp_path,
        monkeypatch,
        "student",
        lambda p: (
            p.close("value", torch.tensor([1.0, 2.0, 4.0], dtype=torch.float64), rtol=10.0),
            p.equal("device", "cpu"),
            p.check("in place", True),
        ),
    )
    assert judge_cell(reference, student, 2).points == 0
    faked = _records(
        tmp_path,
        monkeypatch,
        "faked",
        lambda p: (
            p.close("value", torch.tensor([1.0, 2.0, 3.0], dtype=torch.float64)),
            p.equal("device", "cpu"),
            p.equal("in place", "yes"),
        ),
    )
    assert judge_cell(reference, faked, 2).points == 0


def test_a_failing_reference_is_the_instructors_error(tmp_path, monkeypatch):
    """Does a reference whose own check fails, or that stopped early, raise instead of grading students against it?"""
    bad = _records(tmp_path, monkeypatch, "bad", lambda p: p.check("flag", False))
    with pytest.raises(ReferenceError):
        judge_cell(bad, bad, 1)


def test_bounds_and_hidden_auc_tiers(tmp_path, monkeypatch):
    """Are at_least bounds and hidden-split AUC tiers judged from the scores alone, with partial credit?"""
    labels = np.array([0, 1] * 50)
    good = labels + np.linspace(0, 0.5, 100)  # perfectly separated
    noisy = labels * 0.3 + np.random.default_rng(0).random(100)
    reference = _records(tmp_path, monkeypatch, "ref", lambda p: (p.at_least("ess", 0.4, 0.3), p.hidden_auc("scores", good)))
    scorer = tiered_auc_scorer(labels, [[0.99, 1.0], [0.6, 0.5]])
    assert judge_cell(reference, reference, 4, scorer).points == 4
    student = _records(tmp_path, monkeypatch, "student", lambda p: (p.at_least("ess", 0.35, 0.99), p.hidden_auc("scores", noisy)))
    verdict = judge_cell(reference, student, 4, scorer)
    assert verdict.points == 2, verdict.message()
    low = _records(tmp_path, monkeypatch, "low", lambda p: (p.at_least("ess", 0.2, 0.0), p.hidden_auc("scores", good)))
    assert judge_cell(reference, low, 4, scorer).points == 0  # the bound is the reference's 0.3, not the student's 0.0
    constant = _records(
        tmp_path, monkeypatch, "constant", lambda p: (p.at_least("ess", 0.4, 0.3), p.hidden_auc("scores", np.ones(100)))
    )
    assert judge_cell(reference, constant, 4, scorer).points == 0
    with pytest.raises(ValueError):
        check_tiers([[0.9, 0.5]])  # the highest tier must give full points


@settings(max_examples=60, deadline=None)
@given(st.lists(st.floats(-1e6, 1e6), min_size=1, max_size=20), st.floats(1e-12, 1e-2), st.floats(0, 2))
def test_close_passes_exactly_within_its_tolerance(values, rtol, scale):
    """For any values, does `close` pass a perturbation inside atol + rtol|x| and fail one clearly outside it?"""
    ref = np.array(values)
    meta = {"v": {"rule": "close", "rtol": rtol, "atol": 0.0, "check_dtype": True, "what": "v"}}
    reference = ({"v": ref}, meta)
    inside = ref + 0.5 * rtol * np.abs(ref) * np.sign(scale - 1)
    assert judge_cell(reference, ({"v": inside}, meta), 1).points == 1
    outside = ref + 3 * rtol * np.abs(ref) + 1e-300
    if np.any(np.abs(outside - ref) > rtol * np.abs(ref)):
        assert judge_cell(reference, ({"v": outside}, meta), 1).points == 0


def test_record_files_hold_plain_data_only(tmp_path):
    """Does the reader refuse pickled objects, links, FIFOs and oversized files?"""
    good = encode({"x": np.arange(3)}, {"x": {"rule": "equal"}})
    assert decode(good)[0]["x"].tolist() == [0, 1, 2]
    pickled = tmp_path / "pickled.npz"
    np.savez(pickled, x=np.array([object()], dtype=object))
    with pytest.raises(RecordError):
        read_records(pickled)
    target = tmp_path / "labels.npz"
    target.write_bytes(good)
    os.symlink(target, tmp_path / "link.npz")
    with pytest.raises(RecordError, match="not a regular file"):
        read_records(tmp_path / "link.npz")
    os.mkfifo(tmp_path / "fifo.npz")
    with pytest.raises(RecordError):
        read_records(tmp_path / "fifo.npz")  # returns at once: opened without blocking
    with pytest.raises(RecordError, match="larger than"):
        read_records(target, max_bytes=10)


def test_the_harvest_brings_back_only_regular_record_files(tmp_path):
    """After a kernel ends, does the grader read back only its record files, and ignore links, FIFOs, sockets, odd names and huge files?"""
    from dl4phys.sandbox.kernel import ScratchKernelManager

    manager = ScratchKernelManager()
    try:
        records = manager.records_dir
        (tmp_path / "secret.npz").write_bytes(encode({"x": np.arange(2)}, {}))
        with open(os.path.join(records, "test_a.npz"), "wb") as handle:
            handle.write(encode({"x": np.arange(3)}, {"x": {"rule": "equal"}}))
        os.symlink(tmp_path / "secret.npz", os.path.join(records, "test_b.npz"))
        os.mkfifo(os.path.join(records, "test_c.npz"))
        with socket.socket(socket.AF_UNIX) as sock:
            sock.bind(os.path.join(records, "test_d.npz"))
        with open(os.path.join(records, "test_e.npz"), "wb") as handle:
            handle.truncate(2**40)  # a sparse terabyte
        open(os.path.join(records, "odd\nname.npz"), "w").close()
        deep = records
        for _ in range(200):
            deep = os.path.join(deep, "d")
        os.makedirs(deep)
        manager.harvest()
        assert sorted(manager.records) == ["test_a.npz"]
        assert len(manager.ignored) == 6, manager.ignored
    finally:
        from dl4phys.sandbox.kernel import remove_tree

        remove_tree(manager.base_dir)
    assert not os.path.exists(manager.base_dir)


@pytest.mark.grading
@pytest.mark.slow
def test_reference_records_are_reproducible_and_follow_the_source(tmp_path):
    """Does recomputing the reference records give identical files, and does a change of the source notebook recompute them?"""
    from dl4phys.judging.reference import reference_folder, reference_records

    from .conftest import scratch_course

    config = scratch_course(tmp_path / "course").config
    source = SOURCE / "hw02_gradient_descent" / "gradient_descent.ipynb"
    first = reference_records(source, "hw02_gradient_descent", config, tmp_path / "refs1", device="cpu")
    second = reference_records(source, "hw02_gradient_descent", config, tmp_path / "refs2", device="cpu")
    folders = [reference_folder(tmp_path / r, "hw02_gradient_descent", source, "cpu") for r in ("refs1", "refs2")]
    assert sorted(p.name for p in folders[0].iterdir()) == sorted(p.name for p in folders[1].iterdir())
    for path in folders[0].glob("*.npz"):
        assert path.read_bytes() == (folders[1] / path.name).read_bytes(), f"{path.name} differs between two runs"
    assert set(first) == set(second) and len(first) == 7

    changed = tmp_path / "changed" / "hw02_gradient_descent" / "gradient_descent.ipynb"
    changed.parent.mkdir(parents=True)
    notebook = nbformat.read(source, as_version=4)
    for cell in notebook.cells:
        cell.source = cell.source.replace("for _shape in [(1,), (7,), (5, 3), (2, 3, 4)]:", "for _shape in [(1,), (7,)]:")
    nbformat.write(notebook, changed)
    assert reference_folder(tmp_path / "refs1", "hw02_gradient_descent", changed, "cpu") != folders[0]
    third = reference_records(changed, "hw02_gradient_descent", config, tmp_path / "refs1", device="cpu")
    assert set(third["test_mse"][0]) < set(first["test_mse"][0])
    shutil.rmtree(tmp_path / "refs1", ignore_errors=True)


def test_probe_records_a_meta_device_result_without_values(tmp_path, monkeypatch):
    """Does a probe of a function run on PyTorch's meta device record its shape, dtype and device (caught on a CPU grader)?"""
    reference = _records(
        tmp_path, monkeypatch, "ref", lambda p: p.close("meta", torch.empty(4, 3, device="meta", dtype=torch.float64))
    )
    wrong = _records(tmp_path, monkeypatch, "wrong", lambda p: p.close("meta", torch.empty(4, 3, dtype=torch.float64)))
    assert judge_cell(reference, reference, 1).points == 1
    assert judge_cell(reference, wrong, 1).points == 0


class _SeparateProjections(torch.nn.Module):
    """Multi-head self-attention written by hand with separate (d, d) query, key, value and output weights.

    ``transposed``: the weights are used as ``x @ W`` (not as nn.Linear's ``x @ W.T``); ``heads``: how the
    forward splits the features into heads ("contiguous", as nn.MultiheadAttention, or "interleaved").
    """

    def __init__(self, dim, num_heads, generator, transposed=False, heads="contiguous"):
        super().__init__()
        self.num_heads, self.transposed, self.heads = num_heads, transposed, heads
        for name in ("wq", "wk", "wv", "wo"):
            setattr(self, name, torch.nn.Parameter(0.4 * torch.randn(dim, dim, generator=generator, dtype=torch.float64)))
        for name in ("bq", "bk", "bv", "bo"):
            setattr(self, name, torch.nn.Parameter(0.4 * torch.randn(dim, generator=generator, dtype=torch.float64)))

    def forward(self, x, key_padding_mask=None):
        batch, n, dim = x.shape
        hd = dim // self.num_heads
        lin = (lambda t, w, b: t @ w + b) if self.transposed else (lambda t, w, b: t @ w.T + b)
        if self.heads == "contiguous":
            split = lambda t: t.reshape(batch, n, self.num_heads, hd).transpose(1, 2)
            merge = lambda t: t.transpose(1, 2).reshape(batch, n, dim)
        else:
            split = lambda t: t.reshape(batch, n, hd, self.num_heads).permute(0, 3, 1, 2)
            merge = lambda t: t.permute(0, 2, 3, 1).reshape(batch, n, dim)
        q, k, v = (split(lin(x, w, b)) for w, b in ((self.wq, self.bq), (self.wk, self.bk), (self.wv, self.bv)))
        logits = q @ k.transpose(-1, -2) / hd**0.5
        if key_padding_mask is not None:
            logits = logits.masked_fill(key_padding_mask[:, None, None, :], float("-inf"))
        return lin(merge(torch.softmax(logits, dim=-1) @ v), self.wo, self.bo)


def _attention_group(module, x, mask, x1):
    """What hw06's probe records for the multi_head_self_attention relation."""
    named = list(module.named_parameters())
    with torch.no_grad():
        return dict(
            names=np.array([n for n, _ in named]),
            shapes=np.array([",".join(map(str, p.shape)) for _, p in named]),
            values=np.concatenate([p.detach().numpy().ravel() for _, p in named]),
            x=x.numpy(),
            mask=mask.numpy(),
            out=module(x, mask if mask.any() else None).numpy(),
            x1=x1.numpy(),
            out1=module(x1).numpy(),
            num_heads=np.array(2),
            rtol=np.array(1e-8),
            atol=np.array(1e-10),
        )


def test_multi_head_attention_is_judged_by_behaviour_not_layout():
    """Does the relation pass correct modules with a packed or separate, as-stored or transposed layout, and fail wrong ones?"""
    from dl4phys.judging.relations import RELATIONS

    rule = RELATIONS["multi_head_self_attention"]
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(3, 5, 8, generator=gen, dtype=torch.float64)
    mask = torch.zeros(3, 5, dtype=torch.bool)
    mask[0, 3:] = True
    x1 = torch.randn(4, 1, 8, generator=gen, dtype=torch.float64)
    reference = _attention_group(_SeparateProjections(8, 2, gen), x, mask, x1)
    packed = torch.nn.MultiheadAttention(8, 2, batch_first=True, dtype=torch.float64)
    with torch.no_grad():
        for p in packed.parameters():
            p.copy_(0.4 * torch.randn(p.shape, generator=gen, dtype=torch.float64))

    class Packed(torch.nn.Module):  # PyTorch's own module: one (3d, d) in_proj_weight [q; k; v]
        def __init__(self):
            super().__init__()
            self.mha = packed.train()

        def forward(self, x, key_padding_mask=None):
            return self.mha(x, x, x, key_padding_mask=key_padding_mask, need_weights=False)[0]

    for correct in (Packed(), _SeparateProjections(8, 2, gen), _SeparateProjections(8, 2, gen, transposed=True)):
        assert rule(_attention_group(correct, x, mask, x1), reference) == (True, "")
    wrong = {"interleaved heads": _SeparateProjections(8, 2, gen, heads="interleaved")}
    ignores_mask = _SeparateProjections(8, 2, gen)
    ignores_mask.forward = lambda x, key_padding_mask=None, m=ignores_mask: _SeparateProjections.forward(m, x)
    wrong["ignores the mask"] = ignores_mask
    for what, module in wrong.items():
        ok, reason = rule(_attention_group(module, x, mask, x1), reference)
        assert not ok and "closest differs" in reason, what
    scaled = _attention_group(_SeparateProjections(8, 2, gen), x, mask, x1)
    scaled["out1"] = 1.01 * scaled["out1"]  # a one-particle output that no value and output projection explain
    assert not rule(scaled, reference)[0]
    other_inputs = _attention_group(_SeparateProjections(8, 2, gen), x + 1, mask, x1)
    assert rule(other_inputs, reference) == (False, "was recorded for other inputs than the test's")
    too_few = dict(reference, names=reference["names"][:2], shapes=reference["shapes"][:2], values=reference["values"][:128])
    assert "needs four" in rule(too_few, reference)[1]


def test_unchanged_relation_compares_each_variant_with_the_base():
    """Does 'unchanged' pass variants within the reference's atol, and fail a changed, constant or non-finite result?"""
    from dl4phys.judging.relations import RELATIONS

    rule = RELATIONS["unchanged"]
    base = np.array([[0.1, 0.2], [0.5, -0.3], [1.0, 0.0]])
    reference = {"base": base, "shuffled": base, "atol": np.array(1e-6), "min_spread": np.array(1e-3)}
    assert rule(dict(reference, shuffled=base + 1e-8, atol=np.array(1.0)), reference) == (True, "")
    ok, reason = rule(dict(reference, shuffled=base + 1e-3), reference)
    assert not ok and reason.startswith("shuffled: changed by up to 1.00e-03")
    assert not rule(dict(reference, base=np.ones((3, 2)), shuffled=np.ones((3, 2))), reference)[0]  # ignores its input
    assert not rule(dict(reference, shuffled=base * np.nan), reference)[0]
    assert not rule(dict(reference, base=base[:2], shuffled=base[:2]), reference)[0]


def test_repository_root_is_the_course():
    """Is this repository a course folder (the tests grade it)?"""
    assert (REPO / "nbgrader_config.py").is_file() and SOURCE.is_dir()
