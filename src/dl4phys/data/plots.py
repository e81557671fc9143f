"""Control plots of the jet data: jet mass, tau_32 and constituent multiplicity per class (``make data-plots``).

Instructor tooling: not in the students' copy of the package (``tau_ratio`` answers homework 1's
``add_tau_ratios``).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from ._util import require


def tau_ratio(features: pd.DataFrame, n: int = 3, beta: str = "1") -> np.ndarray:
    """tau_n / tau_{n-1} at one beta (e.g. tau_32 for n = 3); 0 where tau_{n-1} = 0."""
    num = features[f"tau{n}_b{beta}"].to_numpy()
    den = features[f"tau{n - 1}_b{beta}"].to_numpy()
    return np.divide(num, den, out=np.zeros_like(num, dtype=float), where=den > 0)


#: What is plotted: (file stem, x label, binning, function of the features table).
PLOTS = (
    ("jet_mass", "jet mass [GeV]", np.linspace(0, 300, 61), lambda f: f["mass"].to_numpy()),
    ("tau32", r"$\tau_{32} = \tau_3^{(1)} / \tau_2^{(1)}$", np.linspace(0, 1.2, 61), lambda f: tau_ratio(f, 3, "1")),
    ("n_constituents", "constituent multiplicity", np.arange(0, 202, 4), lambda f: f["n_constituents"].to_numpy()),
)
CLASS_STYLE = {1: ("top", "tab:red"), 0: ("QCD", "tab:blue")}


def make_plots(out, split: str = "train", features=None) -> list[Path]:
    """Write one PNG per quantity with the top and QCD distributions (unit-normalised).

    Args:
        out: output directory (created).
        split: split to plot (``train``, ``valid`` or, on the grading machine, ``test``).
        features: optional features table with a ``label`` column (skips loading ``split``).
    Returns:
        the PNG paths: ``<out>/jet_mass.png``, ``<out>/tau32.png``, ``<out>/n_constituents.png``.
    """
    matplotlib = require("matplotlib", purpose="the jet plots")
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if features is None:
        from .splits import load_features

        features = load_features(split)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for stem, xlabel, bins, fn in PLOTS:
        fig, ax = plt.subplots(figsize=(5.5, 4.0), dpi=120)
        for label, (name, colour) in CLASS_STYLE.items():
            sel = features[features["label"] == label]
            values = fn(sel)
            ax.hist(values, bins=bins, density=True, histtype="step", lw=1.6, color=colour, label=f"{name} ({len(sel)} jets)")
        ax.set_xlabel(xlabel)
        ax.set_ylabel("normalised jets")
        ax.set_title(f"{split} split: anti-kT R=0.8, 550 < pT < 650 GeV, |eta| < 2", fontsize=8)
        ax.legend(frameon=False)
        fig.tight_layout()
        path = out / f"{stem}.png"
        fig.savefig(path)
        plt.close(fig)
        paths.append(path)
    return paths
