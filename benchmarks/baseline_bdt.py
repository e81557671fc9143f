"""Gradient-boosted-trees baseline on the N-subjettiness features.

Run: ``.venv/bin/python benchmarks/baseline_bdt.py``

Trains scikit-learn's ``HistGradientBoostingClassifier`` on the shipped ``train`` split
(early stopping on ``valid``) with the 18 N-subjettiness variables tau_N^(beta)
(N = 1..6, beta = 0.5, 1, 2) plus jet mass and pT, and prints, on the hidden test split
(or on ``valid`` where the hidden split is absent): ROC AUC with its bootstrap standard
error, accuracy, and the background rejection 1/eps_B at 30 % signal efficiency, next to
the Landscape paper's numbers on the reference dataset.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from dl4phys.data import TAU_COLUMNS, HiddenDataUnavailable, load_features

FEATURES = TAU_COLUMNS + ["mass", "pt"]
#: Kasieczka et al., SciPost Phys. 7, 014 (2019), Table 1 (single training, reference test set).
LANDSCAPE = {
    "multi-body N-subjettiness (N=6 basis, dense network)": (0.979, 0.922, 792),
    "multi-body N-subjettiness (N=8 basis, dense network)": (0.981, 0.929, 867),
    "ParticleNet": (0.985, 0.938, 1298),
}


def rejection_at(y_true, score, eff_s: float = 0.3):
    """Background rejection at signal efficiency ``eff_s``.

    The threshold keeps the top ``eff_s`` fraction of signal jets; returns
    ``(1/eps_B, n_pass, n_background, (low, high))`` where n_pass background jets pass and
    (low, high) is the 68 % Garwood (Poisson) interval of 1/eps_B. With a few thousand
    background jets and eps_B ~ 1e-3 only a handful pass, so the interval is wide.
    """
    from scipy.stats import chi2

    y_true = np.asarray(y_true)
    sig = np.sort(score[y_true == 1])
    cut = sig[int(np.floor((1.0 - eff_s) * len(sig)))]
    bkg = score[y_true == 0]
    n_pass, n_bkg = int((bkg >= cut).sum()), len(bkg)
    lo = chi2.ppf(0.16, 2 * n_pass) / 2 if n_pass > 0 else 0.0
    hi = chi2.ppf(0.84, 2 * (n_pass + 1)) / 2
    rej = n_bkg / n_pass if n_pass else float("inf")
    return rej, n_pass, n_bkg, (n_bkg / hi, n_bkg / lo if lo > 0 else float("inf"))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--bootstrap", type=int, default=200)
    args = parser.parse_args(argv)
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.metrics import accuracy_score, roc_auc_score

    t0 = time.perf_counter()
    train, valid = load_features("train"), load_features("valid")
    try:
        test, test_name = load_features("test"), "hidden test"
    except HiddenDataUnavailable as exc:
        print(f"note: {exc}; evaluating on 'valid' instead")
        test, test_name = valid, "valid"
    t_feat = time.perf_counter() - t0

    X = np.concatenate([train[FEATURES].to_numpy(), valid[FEATURES].to_numpy()])
    y = np.concatenate([train["label"].to_numpy(), valid["label"].to_numpy()])
    is_valid = np.r_[np.zeros(len(train), bool), np.ones(len(valid), bool)]
    clf = HistGradientBoostingClassifier(
        max_iter=1000,
        learning_rate=0.05,
        max_leaf_nodes=31,
        l2_regularization=1.0,
        early_stopping=True,
        validation_fraction=None,
        n_iter_no_change=30,
        random_state=args.seed,
    )
    # Early stopping on the valid split: sklearn takes a held-out fraction of what it is
    # given, so fit on train with valid passed as the validation set where supported.
    try:
        clf.set_params(early_stopping=True)
        clf.fit(X[~is_valid], y[~is_valid], X_val=X[is_valid], y_val=y[is_valid])
    except TypeError:  # older scikit-learn without X_val: internal 10 % split
        clf.set_params(validation_fraction=0.1)
        clf.fit(X[~is_valid], y[~is_valid])
    t_fit = time.perf_counter() - t0 - t_feat

    Xt, yt = test[FEATURES].to_numpy(), test["label"].to_numpy()
    score = clf.predict_proba(Xt)[:, 1]
    auc = roc_auc_score(yt, score)
    acc = accuracy_score(yt, score > 0.5)
    rej, n_pass, n_bkg, (rej_lo, rej_hi) = rejection_at(yt, score)
    rng = np.random.default_rng(args.seed)
    boots_auc = []
    for _ in range(args.bootstrap):
        idx = rng.integers(0, len(yt), len(yt))
        boots_auc.append(roc_auc_score(yt[idx], score[idx]))

    print(
        f"features: {len(FEATURES)} (tau_N^beta, N=1..6, beta=0.5,1,2; mass; pT); "
        f"train {len(train)} jets, valid {len(valid)} jets, {test_name} {len(test)} jets"
    )
    print(f"time: features {t_feat:.1f} s, fit {t_fit:.1f} s ({clf.n_iter_} boosting iterations)")
    print(f"BDT on {test_name}: AUC = {auc:.4f} +- {np.std(boots_auc):.4f} (bootstrap)   accuracy = {acc:.4f}")
    print(
        f"BDT on {test_name}: 1/eps_B(eps_S=0.3) = {rej:.0f}  ({n_pass} of {n_bkg} QCD jets pass; "
        f"68% Poisson interval {rej_lo:.0f} - {rej_hi:.0f})"
    )
    print("Landscape paper, reference dataset (Delphes), AUC / accuracy / 1/eps_B(0.3):")
    for name, (a, c, r) in LANDSCAPE.items():
        print(f"  {name:<55} {a:.3f} / {c:.3f} / {r}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
