"""Jet features: kinematics and N-subjettiness, against brute-force references and physics.

The brute-force references are written independently of dl4phys.data.features: a plain
Python exclusive-kT clustering (d_ij = min(pT_i^2, pT_j^2) dR_ij^2, no beam, winner-take-all
recombination: summed pT, direction of the harder) for the axes, and a loop over particles
and axes for tau_N.
"""

from __future__ import annotations

import math
import time

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from dl4phys.data import FEATURE_COLUMNS, jet_features
from dl4phys.data.features import BETAS, TAU_NS, exclusive_kt_axes, kinematics, rapidity_phi, tau_from_axes
from dl4phys.data.plots import tau_ratio

pytestmark = pytest.mark.data


# --------------------------------------------------------------------------------------
# Brute-force references
# --------------------------------------------------------------------------------------


def _rap_phi(p):
    e, px, py, pz = p
    return 0.5 * math.log((e + pz) / (e - pz)), math.atan2(py, px)


def _dr2(a, b):
    ya, pa = _rap_phi(a)
    yb, pb = _rap_phi(b)
    dphi = abs(pa - pb)
    dphi = min(dphi, 2 * math.pi - dphi)
    return (ya - yb) ** 2 + dphi**2


def _brute_kt_axes(particles, n):
    """Exclusive WTA-kT clustering down to n pseudo-jets, by exhaustive pair search.

    Returns the (rapidity, phi) of the n pseudo-jets.
    """
    jets = []  # (pt, rapidity, phi)
    for p in particles:
        y, phi = _rap_phi(p)
        jets.append((math.hypot(p[1], p[2]), y, phi))
    while len(jets) > n:
        best = None
        for i in range(len(jets)):
            for j in range(i + 1, len(jets)):
                dphi = abs(jets[i][2] - jets[j][2])
                dphi = min(dphi, 2 * math.pi - dphi)
                d = min(jets[i][0], jets[j][0]) ** 2 * ((jets[i][1] - jets[j][1]) ** 2 + dphi**2)
                if best is None or d < best[0]:
                    best = (d, i, j)
        _, i, j = best
        hard = jets[i] if jets[i][0] >= jets[j][0] else jets[j]
        merged = (jets[i][0] + jets[j][0], hard[1], hard[2])
        jets = [jt for k, jt in enumerate(jets) if k not in (i, j)] + [merged]
    return [(y, phi) for _, y, phi in jets]


def _brute_tau(particles, axes, beta, r0=0.8):
    num = den = 0.0
    for p in particles:
        pt = math.hypot(p[1], p[2])
        y, phi = _rap_phi(p)
        dmin = min(math.hypot(y - ay, min(abs(phi - aphi), 2 * math.pi - abs(phi - aphi))) for ay, aphi in axes)
        num += pt * dmin**beta
        den += pt * r0**beta
    return num / den


def _random_jets(n_jets, n_particles, seed, pad_to=200):
    """Random massless particles around a random jet axis, pT-ordered, zero-padded."""
    rng = np.random.default_rng(seed)
    out = np.zeros((n_jets, pad_to, 4))
    for j in range(n_jets):
        y0, phi0 = rng.uniform(-1.5, 1.5), rng.uniform(-np.pi, np.pi)
        m = n_particles if np.isscalar(n_particles) else n_particles[j]
        pt = np.sort(rng.exponential(30.0, m) + 1.0)[::-1]
        eta = y0 + rng.normal(0, 0.3, m)
        phi = phi0 + rng.normal(0, 0.3, m)
        px, py, pz = pt * np.cos(phi), pt * np.sin(phi), pt * np.sinh(eta)
        out[j, :m] = np.stack([np.sqrt(px**2 + py**2 + pz**2), px, py, pz], axis=1)
    return out


@pytest.fixture(scope="module")
def valid_features():
    from dl4phys.data import load_features

    return load_features("valid")


@pytest.fixture(scope="module")
def valid_constituents():
    from dl4phys.data import load_constituents

    return load_constituents("valid")


# --------------------------------------------------------------------------------------
# Tests
# --------------------------------------------------------------------------------------


def test_columns():
    jets = _random_jets(3, 12, seed=0)
    feats = jet_features(jets, n_jobs=1)
    assert list(feats.columns) == FEATURE_COLUMNS
    for col in ["mass", "pt", "eta", "phi", "n_constituents", "tau3_b1", "tau2_b05", "tau6_b2"]:
        assert col in feats.columns
    assert len([c for c in feats.columns if c.startswith("tau")]) == 18
    assert feats["n_constituents"].tolist() == [12, 12, 12]


def test_kinematics_against_direct_sums():
    jets = _random_jets(5, 20, seed=1)
    kin = kinematics(jets)
    for j in range(5):
        e, px, py, pz = jets[j].sum(axis=0)
        pt = math.hypot(px, py)
        assert kin["pt"][j] == pytest.approx(pt, rel=1e-12)
        assert kin["mass"][j] == pytest.approx(math.sqrt(e**2 - px**2 - py**2 - pz**2), rel=1e-9)
        assert kin["eta"][j] == pytest.approx(math.asinh(pz / pt), abs=1e-12)
        assert kin["phi"][j] == pytest.approx(math.atan2(py, px), abs=1e-12)


_momentum = st.floats(-500.0, 500.0, allow_subnormal=False)


@settings(max_examples=200, deadline=None)
@given(px=_momentum, py=_momentum, pz=_momentum, mass=st.floats(0.0, 200.0), boost=st.floats(-3.0, 3.0))
def test_rapidity_phi_is_the_textbook_formula_and_boosts_shift_it(px, py, pz, mass, boost):
    # A transverse mass of 1 GeV or more keeps E - |pz| well above rounding, also after the boost;
    # the limits E <= |pz| are test_rapidity_limits.
    assume(mass**2 + px**2 + py**2 >= 1.0)
    e = math.sqrt(mass**2 + px**2 + py**2 + pz**2)
    p4 = np.array([[e, px, py, pz]])
    y, phi = rapidity_phi(p4)
    e, px, py, pz = p4.T  # numpy's log and arctan2 (not math's: they may differ in the last bit)
    assert y == 0.5 * np.log((e + pz) / (e - pz))
    assert phi == np.arctan2(py, px)
    # A boost along the beam shifts every rapidity by the same amount and leaves phi alone.
    ch, sh = math.cosh(boost), math.sinh(boost)
    y_b, phi_b = rapidity_phi(np.stack([ch * e + sh * pz, px, py, sh * e + ch * pz], axis=1))
    assert y_b[0] == pytest.approx(y[0] + boost, abs=1e-6)
    assert phi_b[0] == phi[0]


def test_rapidity_limits():
    p4 = np.array(
        [
            [10.0, 0.0, 0.0, 10.0],  # E = pz: along the beam
            [10.0, 0.0, 0.0, -10.0],
            [10.0, 1e-9, 0.0, 10.0 * (1 + 1e-15)],  # E < |pz| by rounding
            [10.0, 1e-9, 0.0, -10.0 * (1 + 1e-15)],
            [0.0, 0.0, 0.0, 0.0],  # padding
        ]
    )
    y, phi = rapidity_phi(p4)
    assert y.tolist() == [30.0, -30.0, 30.0, -30.0, 0.0]
    assert phi[4] == 0.0


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_kt_axes_match_brute_force_clustering(seed):
    jets = _random_jets(4, 9, seed=seed)
    axes = exclusive_kt_axes(jets, 6)
    for j in range(len(jets)):
        parts = [tuple(p) for p in jets[j] if p[0] > 0]
        for n in TAU_NS:
            ref = sorted(_brute_kt_axes(parts, n))
            got = sorted(map(tuple, axes[j, n - 1, :n]))
            np.testing.assert_allclose(got, ref, atol=1e-9)
            assert np.isnan(axes[j, n - 1, n:]).all()


@pytest.mark.parametrize("beta", list(BETAS.values()))
def test_tau_matches_brute_force(beta):
    jets = _random_jets(4, 8, seed=5)
    token = {v: k for k, v in BETAS.items()}[beta]
    feats = jet_features(jets, n_jobs=1)
    for j in range(len(jets)):
        parts = [tuple(p) for p in jets[j] if p[0] > 0]
        for n in TAU_NS:
            ref = _brute_tau(parts, _brute_kt_axes(parts, n), beta)
            # WTA axes lie on particles: a distance that is 0 here is ~1e-16 after FastJet's
            # (pt, y, phi) -> (E, p) round trip, which dR^0.5 lifts to ~1e-8; hence rel=1e-6
            assert feats[f"tau{n}_b{token}"][j] == pytest.approx(ref, rel=1e-6, abs=1e-9)


def test_tau_from_axes_against_loop():
    jets = _random_jets(3, 15, seed=7)
    rng = np.random.default_rng(3)
    axes = np.stack([rng.uniform(-1, 1, (3, 4)), rng.uniform(-np.pi, np.pi, (3, 4))], axis=-1)
    for beta in (0.5, 1.0, 2.0):
        got = tau_from_axes(jets, axes, beta)
        for j in range(3):
            parts = [tuple(p) for p in jets[j] if p[0] > 0]
            assert got[j] == pytest.approx(_brute_tau(parts, list(map(tuple, axes[j])), beta), rel=1e-12)


def test_tau_vanishes_when_n_reaches_the_multiplicity():
    jets = _random_jets(6, [1, 2, 3, 4, 5, 6], seed=11)
    feats = jet_features(jets, n_jobs=1)
    for j, m in enumerate([1, 2, 3, 4, 5, 6]):
        for n in TAU_NS:
            for b in BETAS:
                value = feats[f"tau{n}_b{b}"][j]
                if n >= m:
                    assert value == 0.0
                else:
                    assert value > 0.0


def test_empty_jet_gives_zeros():
    jets = np.zeros((2, 200, 4))
    jets[1] = _random_jets(1, 30, seed=2)[0]
    feats = jet_features(jets, n_jobs=1)
    assert (feats.iloc[0][[c for c in FEATURE_COLUMNS if c != "phi"]] == 0).all()
    assert feats["n_constituents"][1] == 30


def test_parallel_equals_serial():
    jets = _random_jets(60, 25, seed=4)
    serial = jet_features(jets, n_jobs=1, batch=16)
    parallel = jet_features(jets, n_jobs=2, batch=16)
    assert serial.equals(parallel)


def test_tau_decreases_with_n(valid_features):
    for b in BETAS:
        taus = np.stack([valid_features[f"tau{n}_b{b}"].to_numpy() for n in TAU_NS], axis=1)
        # WTA-kT axes for N are a subset of those for N + 1: tau_N never increases, jet by jet
        assert (np.diff(taus, axis=1) <= 1e-12).all()
        assert (np.diff(taus.mean(axis=0)) < 0).all()


def test_tau32_smaller_for_top_jets(valid_features):
    tau32 = tau_ratio(valid_features, 3, "1")
    top, qcd = valid_features["label"] == 1, valid_features["label"] == 0
    assert tau32[top].mean() < tau32[qcd].mean() - 0.1


def test_mass_peak_and_qcd_median(valid_features):
    top = valid_features.loc[valid_features["label"] == 1, "mass"].to_numpy()
    qcd = valid_features.loc[valid_features["label"] == 0, "mass"].to_numpy()
    counts, edges = np.histogram(top, bins=np.arange(0.0, 300.0, 10.0))
    peak = 0.5 * (edges[counts.argmax()] + edges[counts.argmax() + 1])
    assert 150.0 < peak < 200.0
    assert np.median(qcd) < 150.0


def test_featurisation_speed(valid_constituents):
    consts = valid_constituents[0][:2000]
    t0 = time.perf_counter()
    jet_features(consts, n_jobs=1)
    per_jet = (time.perf_counter() - t0) / len(consts)
    # 1e5 jets must take minutes at most: allow 2 ms per jet on one core (measured ~0.1 ms)
    assert per_jet < 2e-3
