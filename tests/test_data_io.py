"""The reference format, the shipped sample, and the hidden split's access rules."""

from __future__ import annotations

import hashlib

import numpy as np
import pandas as pd
import pytest

import dl4phys.data as data
from dl4phys.data import io
from dl4phys.data.features import kinematics, rapidity_phi

from .conftest import REPO

pytestmark = pytest.mark.data

REFERENCE_COLUMNS = [f"{c}_{i}" for i in range(200) for c in ("E", "PX", "PY", "PZ")] + [
    "truthE",
    "truthPX",
    "truthPY",
    "truthPZ",
    "ttv",
    "is_signal_new",
]


@pytest.fixture(scope="module")
def valid_df():
    return data.read_jets(io.sample_path("valid"))


def test_interface_names():
    for name in [
        "read_jets",
        "constituents",
        "jet_features",
        "load_features",
        "load_constituents",
        "hidden_test_features",
        "hidden_test_constituents",
        "hidden_test_labels",
        "download_reference",
    ]:
        assert callable(getattr(data, name)), name


def test_sample_files_are_small_and_present():
    sizes = [io.sample_path(s).stat().st_size for s in ("train", "valid")]
    assert sum(sizes) < 30e6


def test_reference_format(valid_df):
    assert list(valid_df.columns) == REFERENCE_COLUMNS
    assert all(valid_df[c].dtype == np.float32 for c in REFERENCE_COLUMNS[:804])
    assert set(valid_df["is_signal_new"].unique()) == {0, 1}
    assert (valid_df["ttv"] == io.TTV["valid"]).all()
    assert (valid_df["is_signal_new"] == 1).sum() == (valid_df["is_signal_new"] == 0).sum() == 2000


def test_constituents_shape_order_padding(valid_df):
    c = data.constituents(valid_df)
    assert c.shape == (len(valid_df), 200, 4) and c.dtype == np.float32
    np.testing.assert_array_equal(c[:, 0, 0], valid_df["E_0"].to_numpy())
    np.testing.assert_array_equal(c[:, 7, 3], valid_df["PZ_7"].to_numpy())
    pt = np.hypot(c[:, :, 1], c[:, :, 2])
    assert (np.diff(pt, axis=1) <= 0).all()  # pT-ordered, padding (pT 0) last
    real = c[:, :, 0] > 0
    assert (real.sum(axis=1) == (pt > 0).sum(axis=1)).all()
    assert not c[~real].any()  # padding rows are exactly zero
    assert real[:, 0].all()


def test_jets_pass_the_selection(valid_df):
    kin = kinematics(data.constituents(valid_df))
    assert kin["pt"].between(550.0, 650.0).all()
    assert (kin["eta"].abs() < 2.0).all()


def test_truth_is_the_matched_top(valid_df):
    truth = valid_df[["truthE", "truthPX", "truthPY", "truthPZ"]].to_numpy(np.float64)
    top = valid_df["is_signal_new"].to_numpy() == 1
    assert not truth[~top].any()
    mass = np.sqrt(np.maximum(truth[top, 0] ** 2 - (truth[top, 1:] ** 2).sum(axis=1), 0))
    assert np.median(mass) == pytest.approx(172.5, abs=5.0)
    jet = data.constituents(valid_df[top]).astype(np.float64).sum(axis=1)
    yj, pj = rapidity_phi(jet)
    yt, pt_ = rapidity_phi(truth[top])
    dphi = (pj - pt_ + np.pi) % (2 * np.pi) - np.pi
    assert (np.hypot(yj - yt, dphi) < 0.8).all()


def test_read_jets_row_range():
    path = io.sample_path("valid")
    part = data.read_jets(path, start=10, stop=15)
    assert len(part) == 5
    pd.testing.assert_frame_equal(part.reset_index(drop=True), data.read_jets(path).iloc[10:15].reset_index(drop=True))


def test_read_jets_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="no jet file"):
        data.read_jets(tmp_path / "nope.h5")


def test_write_jets_is_byte_reproducible(tmp_path):
    rng = np.random.default_rng(0)
    consts = rng.normal(size=(20, 200, 4)).astype(np.float32)
    truth = rng.normal(size=(20, 4)).astype(np.float32)
    label = rng.integers(0, 2, 20)
    a, b = tmp_path / "a.h5", tmp_path / "b.h5"
    io.write_jets(a, consts, truth=truth, label=label)
    import time

    time.sleep(1.1)  # HDF5 timestamps have one-second resolution
    io.write_jets(b, consts, truth=truth, label=label)
    assert hashlib.sha256(a.read_bytes()).digest() == hashlib.sha256(b.read_bytes()).digest()
    df = data.read_jets(a)
    np.testing.assert_array_equal(data.constituents(df), consts)
    assert list(df.columns) == REFERENCE_COLUMNS


def test_load_constituents_and_features_agree():
    consts, labels = data.load_constituents("valid")
    feats = data.load_features("valid")
    assert consts.shape == (4000, 200, 4) and consts.dtype == np.float32
    assert labels.dtype.kind == "i" and set(np.unique(labels)) == {0, 1}
    np.testing.assert_array_equal(feats["label"].to_numpy(), labels)
    assert feats["label"].dtype == np.int64
    assert list(feats.columns) == data.FEATURE_COLUMNS + ["label"]


def test_unknown_split():
    with pytest.raises(ValueError, match="unknown split"):
        data.load_features("validation")
    with pytest.raises(ValueError):
        data.load_constituents("test")


# --------------------------------------------------------------------------------------
# The hidden split
# --------------------------------------------------------------------------------------


@pytest.fixture()
def fake_hidden(tmp_path, monkeypatch):
    """A small hidden split (inputs + separate labels) made from the first valid jets."""
    df = data.read_jets(io.sample_path("valid"), stop=40)
    io.write_jets(tmp_path / io.HIDDEN_INPUTS, data.constituents(df), ttv=io.TTV["test"])
    np.save(tmp_path / io.HIDDEN_LABELS, df["is_signal_new"].to_numpy().astype(np.int8))
    monkeypatch.setenv(io.HIDDEN_ENV, str(tmp_path))
    return df


def test_hidden_inputs_carry_no_labels(fake_hidden):
    inputs = data.read_jets(io.hidden_data_dir() / io.HIDDEN_INPUTS)
    assert "is_signal_new" not in inputs.columns
    assert not any(c.startswith("truth") for c in inputs.columns)
    feats = data.hidden_test_features()
    assert "label" not in feats.columns and len(feats) == 40
    consts = data.hidden_test_constituents()
    np.testing.assert_array_equal(consts, data.constituents(fake_hidden))
    np.testing.assert_array_equal(data.hidden_test_labels(), fake_hidden["is_signal_new"].to_numpy())
    test = data.load_features("test")
    np.testing.assert_array_equal(test["label"].to_numpy(), fake_hidden["is_signal_new"].to_numpy())


def test_hidden_split_absent_gives_one_line_error(tmp_path, monkeypatch):
    monkeypatch.setenv(io.HIDDEN_ENV, str(tmp_path / "nothing-here"))
    for fn in (
        lambda: data.load_features("test"),
        data.hidden_test_features,
        data.hidden_test_constituents,
        data.hidden_test_labels,
    ):
        with pytest.raises(data.HiddenDataUnavailable, match="only available where the instructor grades") as info:
            fn()
        assert "\n" not in str(info.value)
        assert isinstance(info.value, FileNotFoundError)


def test_hidden_data_default_location(monkeypatch, tmp_path):
    """Without DL4PHYS_HIDDEN_DATA, is the hidden split looked for in the current folder (the course), never beside the package?"""
    monkeypatch.delenv(io.HIDDEN_ENV, raising=False)
    monkeypatch.chdir(tmp_path)
    assert data.hidden_data_dir() == tmp_path / "hidden_data"


@pytest.mark.skipif(
    not (REPO / "hidden_data" / io.HIDDEN_LABELS).is_file(), reason="the hidden split exists only in the instructor's repository"
)
def test_committed_hidden_split(monkeypatch):
    monkeypatch.setenv(io.HIDDEN_ENV, str(REPO / "hidden_data"))
    labels = data.hidden_test_labels()
    assert len(labels) == 10000 and labels.sum() == 5000
    inputs = data.read_jets(io.hidden_data_dir() / io.HIDDEN_INPUTS)
    assert len(inputs) == 10000 and (inputs["ttv"] == io.TTV["test"]).all()
    assert list(inputs.columns) == REFERENCE_COLUMNS[:800] + ["ttv"]
