"""Physics features of jets: kinematics and N-subjettiness.

Everything takes the constituents array of :func:`dl4phys.data.constituents`: float array of
shape (n_jets, 200, 4) with (E, px, py, pz) per constituent in GeV, zero rows for padding.

N-subjettiness (Thaler & Van Tilburg, arXiv:1011.2268), in its normalised form::

    tau_N^(beta) = sum_i pT_i * min_k dR(i, k)^beta  /  sum_i pT_i * R0^beta,   R0 = 0.8

where i runs over the constituents, k over N axes, and dR is the distance in the
(rapidity, azimuth) plane, with azimuth differences wrapped into one period (only their size
enters, so the course's convention (-pi, pi] and scikit-hep vector's [-pi, pi) agree). The
four-vector kinematics (rapidity, azimuth, pT, mass, pseudorapidity) are scikit-hep
``vector``'s, imported on first use, not with this module (it takes about a second).

The axes are the N *exclusive kT* subjets of the jet with winner-take-all recombination
("WTA-kT axes", ``WTA_KT_Axes`` of the FastJet contrib Nsubjettiness), found by FastJet: kT
algorithm, ``WTA_pt_scheme`` (a merged pair has the summed pT and the direction of the harder
one), R large enough that nothing merges with the beam. WTA axes sit on hard particles, so the
axes for N are a subset of those for N + 1 and tau_N never increases with N; with E-scheme axes
(the subjets' momentum sums) a few per cent of jets have tau_{N+1} > tau_N at beta = 0.5, and
tau_32 separates top from QCD less well. The features table contains tau_N^(beta) for N = 1...6
and beta in {0.5, 1, 2}: the multi-body N-subjettiness basis of the Landscape paper's
N-subjettiness tagger (Moore, Nordstrom, Varma, Fairbairn, arXiv:1807.04769). Columns are named
``tau{N}_b{beta}`` with beta tokens ``05``, ``1``, ``2`` (e.g. ``tau3_b1``, ``tau2_b05``). For
a jet with at most N constituents tau_N = 0 (every constituent can be its own axis).
"""

from __future__ import annotations

import os
import warnings

import numpy as np
import pandas as pd

from ._util import fastjet_quiet_banner, require
from ._util import mp_context as _mp_context

#: N-subjettiness orders and angular exponents of the feature table.
TAU_NS = (1, 2, 3, 4, 5, 6)
BETAS = {"05": 0.5, "1": 1.0, "2": 2.0}
#: Characteristic jet radius of the normalisation.
R0 = 0.8
#: Radius of the kT clustering that defines the axes: FastJet's maximum, so no particle
#: is ever merged with the beam and exclusive_jets(N) is the last N-jet stage.
AXES_R = 1000.0
#: Jets per batch of the vectorised computation.
BATCH = 4096

KINEMATIC_COLUMNS = ["mass", "pt", "eta", "phi", "n_constituents"]
TAU_COLUMNS = [f"tau{n}_b{b}" for n in TAU_NS for b in BETAS]
FEATURE_COLUMNS = KINEMATIC_COLUMNS + TAU_COLUMNS


def _as_consts(consts) -> np.ndarray:
    consts = np.asarray(consts)
    if consts.ndim != 3 or consts.shape[2] != 4:
        raise ValueError(f"constituents must have shape (n_jets, n_max, 4), got {consts.shape}")
    return consts.astype(np.float64, copy=False)


def _momenta(p4: np.ndarray):
    """Four-vectors (..., 4) = (E, px, py, pz) as a scikit-hep ``vector`` array of the same shape."""
    vector = require("vector", purpose="jet kinematics")
    return vector.array({"E": p4[..., 0], "px": p4[..., 1], "py": p4[..., 2], "pz": p4[..., 3]})


def _pt_rapidity_phi(p4: np.ndarray):
    """Transverse momentum, rapidity and azimuth of four-vectors (see :func:`rapidity_phi`)."""
    p = _momenta(p4)
    # vector's rapidity, 0.5 log((E + pz) / (E - pz)), is +-inf where E = |pz| and NaN where
    # rounding made E < |pz|: both are the massless limit, on the side of pz.
    y = p.rapidity
    y = np.where(np.isnan(y), np.copysign(np.inf, p4[..., 3]), y)
    y = np.where(p4[..., 0] > 0, np.clip(y, -30.0, 30.0), 0.0)
    return p.pt, y, p.phi


def rapidity_phi(p4: np.ndarray):
    """Rapidity and azimuth of four-vectors (..., 4) = (E, px, py, pz).

    Zero (padding) four-vectors get rapidity 0 and phi 0. The rapidity of a vector with
    E <= |pz| (rounding of massless particles) is clipped at +-30.
    """
    _, y, phi = _pt_rapidity_phi(p4)
    return y, phi


def kinematics(consts) -> pd.DataFrame:
    """Jet mass, pT, pseudorapidity, azimuth and constituent count from the constituents.

    Args:
        consts: (n_jets, n_max, 4) array of (E, px, py, pz), zero-padded.
    Returns:
        DataFrame with columns ``mass``, ``pt``, ``eta``, ``phi`` (float64) and
        ``n_constituents`` (int64), one row per jet.
    """
    c = _as_consts(consts)
    jet = _momenta(c.sum(axis=1))
    pt = jet.pt
    mass = np.maximum(jet.mass, 0.0)  # vector's mass is negative for a (rounding-)spacelike sum
    eta = np.where(pt > 0, jet.eta, 0.0)
    n = (c[:, :, 0] > 0).sum(axis=1).astype(np.int64)
    return pd.DataFrame({"mass": mass, "pt": pt, "eta": eta, "phi": jet.phi, "n_constituents": n})


def tau_from_axes(consts, axes, beta: float, r0: float = R0) -> np.ndarray:
    """Normalised N-subjettiness for given axes (vectorised over jets).

    Args:
        consts: (n_jets, n_max, 4) constituents (E, px, py, pz), zero-padded.
        axes: (n_jets, N, 2) axes as (rapidity, phi); NaN rows are ignored (a jet with
            fewer axes than N).
        beta: angular exponent.
        r0: characteristic radius of the normalisation.
    Returns:
        (n_jets,) float64: sum_i pT_i min_k dR_ik^beta / sum_i pT_i r0^beta (0 for empty jets).
    """
    c = _as_consts(consts)
    axes = np.asarray(axes, dtype=np.float64)
    pt, y, phi = _pt_rapidity_phi(c)
    dmin = _min_delta_r(y, phi, axes)
    return _tau_sum(pt, dmin, beta, r0)


def _min_delta_r(y, phi, axes):
    """(n, m) distance of each constituent to its nearest axis; axes (n, N, 2), NaN-padded.

    Plain numpy rather than vector's ``deltaphi``: the axes are (rapidity, phi) points, not
    four-vectors, and the constituents' phi is computed once for all N. The wrap is vector's.
    """
    dy = y[:, :, None] - axes[:, None, :, 0]
    dphi = phi[:, :, None] - axes[:, None, :, 1]
    dphi = (dphi + np.pi) % (2 * np.pi) - np.pi
    dr2 = dy**2 + dphi**2
    dr2 = np.where(np.isnan(dr2), np.inf, dr2)
    return np.sqrt(dr2.min(axis=2))


def _tau_sum(pt, dmin, beta, r0):
    norm = pt.sum(axis=1) * r0**beta
    with np.errstate(invalid="ignore"):
        num = (pt * np.where(pt > 0, dmin, 0.0) ** beta).sum(axis=1)
    return np.where(norm > 0, num / np.where(norm > 0, norm, 1.0), 0.0)


def _fastjet():
    fastjet, awkward = require("fastjet", "awkward", purpose="N-subjettiness")
    fastjet_quiet_banner(fastjet)
    return fastjet, awkward


def exclusive_kt_axes(consts, n_max: int = max(TAU_NS)) -> np.ndarray:
    """Exclusive-kT axes with winner-take-all recombination (WTA-kT) for N = 1 ... n_max.

    Args:
        consts: (n_jets, n_max_constituents, 4) constituents (E, px, py, pz), zero-padded.
        n_max: largest N.
    Returns:
        float64 array (n_jets, n_max, n_max, 2): ``axes[j, N-1, k]`` is the (rapidity, phi)
        of the k-th of the N exclusive kT subjets of jet j (k < N); NaN where undefined
        (k >= N, or the jet has fewer than N constituents).
    """
    c = _as_consts(consts)
    n_jets = c.shape[0]
    out = np.full((n_jets, n_max, n_max, 2), np.nan)
    if n_jets == 0:
        return out
    fastjet, ak = _fastjet()

    mask = c[:, :, 0] > 0
    counts = mask.sum(axis=1)
    jet_def = fastjet.JetDefinition(fastjet.kt_algorithm, AXES_R, fastjet.WTA_pt_scheme)
    # Batched (awkward) interface for the jets with enough constituents for every N.
    big = np.flatnonzero(counts >= n_max)
    if len(big):
        sub = c[big]
        flat = sub[mask[big]]
        arr = ak.unflatten(
            ak.zip({"px": flat[:, 1], "py": flat[:, 2], "pz": flat[:, 3], "E": flat[:, 0]}),
            counts[big],
        )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            cs = fastjet.ClusterSequence(arr, jet_def)
            for n in range(1, n_max + 1):
                ex = cs.exclusive_jets(n_jets=n)
                p4 = np.stack(
                    [ak.to_numpy(ak.flatten(ex[f])).reshape(len(big), n) for f in ("E", "px", "py", "pz")],
                    axis=-1,
                )
                y, phi = rapidity_phi(p4)
                out[big, n - 1, :n, 0] = y
                out[big, n - 1, :n, 1] = phi
    # Classic interface for the few jets with fewer constituents.
    for j in np.flatnonzero((counts < n_max) & (counts > 0)):
        parts = [fastjet.PseudoJet(*c[j, i, [1, 2, 3, 0]]) for i in np.flatnonzero(mask[j])]
        cs = fastjet.ClusterSequence(parts, jet_def)
        for n in range(1, min(n_max, len(parts)) + 1):
            ex = cs.exclusive_jets(n)
            p4 = np.array([[s.e(), s.px(), s.py(), s.pz()] for s in ex])
            y, phi = rapidity_phi(p4)
            out[j, n - 1, :n, 0] = y
            out[j, n - 1, :n, 1] = phi
        del cs
    return out


def nsubjettiness(consts, ns=TAU_NS, betas=BETAS, r0: float = R0) -> pd.DataFrame:
    """N-subjettiness with exclusive-kT axes for every jet (single process).

    Args:
        consts: (n_jets, n_max, 4) constituents (E, px, py, pz), zero-padded.
        ns: the orders N.
        betas: dict token -> beta (column ``tau{N}_b{token}``).
        r0: normalisation radius.
    Returns:
        DataFrame (n_jets rows) with one float64 column per (N, beta).
    """
    c = _as_consts(consts)
    n_max = max(ns)
    axes = exclusive_kt_axes(c, n_max)
    pt, y, phi = _pt_rapidity_phi(c)
    counts = (c[:, :, 0] > 0).sum(axis=1)
    cols = {}
    for n in ns:
        dmin = _min_delta_r(y, phi, axes[:, n - 1, :n])
        for token, beta in betas.items():
            tau = _tau_sum(pt, dmin, beta, r0)
            cols[f"tau{n}_b{token}"] = np.where(counts > n, tau, 0.0)
    return pd.DataFrame(cols)


def _features_batch(consts) -> pd.DataFrame:
    return pd.concat([kinematics(consts), nsubjettiness(consts)], axis=1)


def jet_features(consts, n_jobs=None, batch: int = BATCH, progress: bool = False) -> pd.DataFrame:
    """The features table of a set of jets.

    Args:
        consts: (n_jets, n_max, 4) array of (E, px, py, pz), zero-padded (e.g. from
            :func:`dl4phys.data.constituents`).
        n_jobs: worker processes for large inputs (default: all cores; 1 = in-process).
        batch: jets per work unit.
        progress: show a tqdm progress bar.
    Returns:
        DataFrame with columns ``mass``, ``pt``, ``eta``, ``phi``, ``n_constituents`` and
        ``tau{N}_b{beta}`` for N = 1 ... 6 and beta tokens ``05``, ``1``, ``2``; one row per jet,
        in input order, with a fresh RangeIndex. The result does not depend on n_jobs.
    """
    c = np.asarray(consts)
    if c.ndim != 3 or c.shape[2] != 4:
        raise ValueError(f"constituents must have shape (n_jets, n_max, 4), got {c.shape}")
    n = c.shape[0]
    starts = list(range(0, n, batch)) or [0]
    pieces = [c[s : s + batch] for s in starts]
    n_jobs = n_jobs or os.cpu_count() or 1
    require("vector", purpose="jet kinematics")  # imported here once, not in every forked worker
    from tqdm.auto import tqdm

    if n_jobs == 1 or len(pieces) == 1:
        results = [_features_batch(p) for p in tqdm(pieces, disable=not progress, desc="features")]
    else:
        with _mp_context().Pool(min(n_jobs, len(pieces))) as pool:
            results = list(tqdm(pool.imap(_features_batch, pieces), total=len(pieces), disable=not progress, desc="features"))
    out = pd.concat(results, axis=0, ignore_index=True)
    return out[FEATURE_COLUMNS]


__all__ = [
    "BETAS",
    "FEATURE_COLUMNS",
    "R0",
    "TAU_COLUMNS",
    "TAU_NS",
    "exclusive_kt_axes",
    "jet_features",
    "kinematics",
    "nsubjettiness",
    "rapidity_phi",
    "tau_from_axes",
]
