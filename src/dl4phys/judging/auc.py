"""Hidden-split scores judged by their ROC AUC, with partial credit in tiers.

The tiers of a test cell are a list of ``[min_auc, fraction]`` pairs: the cell gets ``fraction`` of
its points for the highest tier whose ``min_auc`` the AUC reaches, and nothing below the lowest.
For example ``[[0.9678, 1.0], [0.9500, 0.5]]``: full points from 0.9678 (the reference solution's
worst seed minus 0.01), half from 0.95, none below.
"""

from __future__ import annotations

import math

import numpy as np

from .judge import AucScorer


def check_tiers(tiers) -> list[tuple[float, float]]:
    """Tiers as sorted ``(min_auc, fraction)`` pairs; ValueError with what to fix when malformed."""
    try:
        pairs = sorted(((float(a), float(f)) for a, f in tiers), reverse=True)
    except (TypeError, ValueError) as err:
        raise ValueError(f"AUC tiers must be [[min_auc, fraction], ...], not {tiers!r}") from err
    if not pairs or any(not 0.5 <= a <= 1 or not 0 < f <= 1 for a, f in pairs) or pairs[0][1] != 1.0:
        raise ValueError(f"AUC tiers {tiers!r}: min_auc in [0.5, 1], fractions in (0, 1], the highest tier 1.0")
    return pairs


def tiered_auc_scorer(labels: np.ndarray, tiers) -> AucScorer:
    """A scorer for the ``hidden_auc`` records of one test cell, whose tiers are ``tiers``."""
    labels = np.asarray(labels).astype(np.int64).ravel()
    tiers = check_tiers(tiers)

    def score(name: str, scores: np.ndarray) -> tuple[float, str]:
        from sklearn.metrics import roc_auc_score

        scores = np.asarray(scores)
        if scores.dtype.kind not in "biuf":
            return 0.0, "the scores are not numbers"
        scores = scores.astype(np.float64).ravel() if scores.ndim == 1 else scores.astype(np.float64)
        if scores.shape != labels.shape:
            return 0.0, f"has shape {scores.shape}, expected ({len(labels)},): one score per hidden-split jet"
        if not np.all(np.isfinite(scores)):
            return 0.0, "has NaN or infinite scores"
        auc = float(roc_auc_score(labels, scores))
        if not math.isfinite(auc):
            return 0.0, "the ROC AUC is not defined"
        table = ", ".join(f"{f:.0%} from {a:.4f}" for a, f in tiers)
        for minimum, fraction in tiers:
            if auc >= minimum:
                return fraction, f"ROC AUC on the hidden split {auc:.4f}: {fraction:.0%} of the points ({table})"
        return 0.0, f"ROC AUC on the hidden split {auc:.4f}, below {tiers[-1][0]:.4f} ({table})"

    return score
