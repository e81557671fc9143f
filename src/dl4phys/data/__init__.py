"""Jet data of the course: boosted top-quark jets against QCD jets.

The data follow the top-tagging reference dataset of "The Machine Learning Landscape of Top
Taggers" (Kasieczka et al., SciPost Phys. 7, 014 (2019)), made at particle level with
Pythia 8 and FastJet (:mod:`dl4phys.data.generate`). See ``docs/jet-data.md``.

Interface (the jet assignments and the graders rely on these names):

* :func:`read_jets` -- a reference-format HDF5 file (generated or downloaded) as a DataFrame;
* :func:`constituents` -- that DataFrame's constituents, float32 (n_jets, 200, 4) of
  (E, px, py, pz), pT-ordered and zero-padded;
* :func:`jet_features` -- mass, pt, eta, phi, n_constituents and N-subjettiness
  ``tau{N}_b{beta}`` (N = 1..6, beta tokens 05, 1, 2) of a constituents array;
* :func:`load_features` -- features plus ``label`` of ``train``, ``valid`` (shipped) or
  ``test`` (the hidden split, only where the instructor grades);
* :func:`load_constituents` -- (constituents, labels) of ``train`` / ``valid``;
* :func:`hidden_test_features`, :func:`hidden_test_constituents` -- the hidden split's
  inputs (no labels); :func:`hidden_test_labels` -- its labels (grader side);
* :func:`download_reference` -- fetch the public reference dataset.

Command line: ``python -m dl4phys.data {generate,plots,download}``.
"""

from .features import FEATURE_COLUMNS, TAU_COLUMNS, jet_features
from .io import HiddenDataUnavailable, constituents, hidden_data_dir, read_jets
from .reference import DownloadError, download_reference
from .splits import (
    hidden_test_constituents,
    hidden_test_features,
    hidden_test_labels,
    load_constituents,
    load_features,
    load_jets,
)

__all__ = [
    "FEATURE_COLUMNS",
    "TAU_COLUMNS",
    "DownloadError",
    "HiddenDataUnavailable",
    "constituents",
    "download_reference",
    "hidden_data_dir",
    "hidden_test_constituents",
    "hidden_test_features",
    "hidden_test_labels",
    "jet_features",
    "load_constituents",
    "load_features",
    "load_jets",
    "read_jets",
]
