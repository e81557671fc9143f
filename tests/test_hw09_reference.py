"""Does hw09's reference solution of Part A agree with pysindy, which its hidden tests stand in for?

The hidden tests of ``hw09_symbolic_regression`` compare students' ``finite_difference``,
``polynomial_library`` and ``stlsq`` with the records of the instructor's solution, not with pysindy
(students' kernels need not have it). These tests run the solution cells of the source notebook
(markers stripped) and check them against pysindy: the library's columns and names in pysindy's
order, STLSQ with ``alpha=0`` to 1e-8 on random systems and on the hidden test's own systems, and
the second-order differences.
"""

from __future__ import annotations

import itertools
import re
import warnings

import nbformat
import numpy as np
import pytest

from .conftest import REPO as REPO_ROOT

ps = pytest.importorskip("pysindy")

pytestmark = pytest.mark.hw09

NOTEBOOK = REPO_ROOT / "source" / "hw09_symbolic_regression" / "symbolic_regression.ipynb"
MARKER = re.compile(r"^[ \t]*### (BEGIN|END) (SOLUTION|HIDDEN TESTS)[ \t]*$", re.M)


def _cell(grade_id: str) -> str:
    for cell in nbformat.read(NOTEBOOK, as_version=4).cells:
        if cell.metadata.get("nbgrader", {}).get("grade_id") == grade_id:
            return MARKER.sub("", cell.source)
    raise KeyError(grade_id)


@pytest.fixture(scope="module")
def solution() -> dict:
    """The namespace of the notebook's Part A solution cells."""
    namespace = {"np": np, "itertools": itertools, "__name__": "hw09_solution"}
    for grade_id in ("finite_difference", "polynomial_library", "stlsq"):
        exec(compile(_cell(grade_id), f"<{grade_id}>", "exec"), namespace)
    return namespace


@pytest.fixture(scope="module")
def hidden_stlsq_cases(solution, tmp_path_factory) -> list:
    """The systems of the hidden test of stlsq, made by the test cell's own code (records go to a scratch folder)."""
    namespace = dict(solution)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DL4PHYS_RECORDS", str(tmp_path_factory.mktemp("hw09_records")))
        exec(compile(_cell("test_stlsq"), "<test_stlsq>", "exec"), namespace)
    return namespace["_stlsq_cases"]()


def _pysindy_stlsq(theta, dxdt, threshold, max_iter):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pysindy warns about columns it empties and about max_iter
        optimizer = ps.STLSQ(threshold=threshold, alpha=0.0, max_iter=max_iter).fit(theta, dxdt)
    return optimizer


@pytest.mark.parametrize("d", [1, 2, 3])
@pytest.mark.parametrize("degree", [1, 2, 3])
def test_library_matches_pysindy(solution, d, degree):
    """Same columns, same order, same names as pysindy.PolynomialLibrary(degree)?"""
    x = np.random.default_rng(10 * d + degree).normal(size=(23, d))
    theta, names = solution["polynomial_library"](x, degree)
    library = ps.PolynomialLibrary(degree=degree).fit(x)
    assert names == library.get_feature_names()
    np.testing.assert_allclose(theta, np.asarray(library.transform(x)), rtol=1e-13, atol=0)


def test_finite_difference_matches_pysindy(solution):
    """Second-order differences equal to pysindy's FiniteDifference(order=2), ends included?"""
    x = np.random.default_rng(3).normal(size=(40, 3))
    np.testing.assert_allclose(
        solution["finite_difference"](x, 0.05), ps.FiniteDifference(order=2)._differentiate(x, 0.05), rtol=1e-12, atol=1e-12
    )


@pytest.mark.parametrize("seed", range(20))
@pytest.mark.parametrize("max_iter", [1, 2, 10])
def test_stlsq_matches_pysindy_on_random_systems(solution, seed, max_iter):
    """STLSQ with alpha=0 to 1e-8 on noisy sparse systems, also when max_iter stops it early?"""
    rng = np.random.default_rng(seed)
    d, degree = 1 + seed % 3, 2 + seed % 2
    x = rng.uniform(-1.5, 1.5, size=(40, d))
    theta, _ = solution["polynomial_library"](x, degree)
    xi = np.round(rng.normal(size=(theta.shape[1], d)) * (rng.uniform(size=(theta.shape[1], d)) < 0.5), 2)
    dxdt = theta @ xi + 0.5 * rng.normal(size=(40, d))
    ours = solution["stlsq"](theta, dxdt, 0.5, max_iter=max_iter)
    theirs = _pysindy_stlsq(theta, dxdt, 0.5, max_iter).coef_.T
    np.testing.assert_allclose(ours, theirs, rtol=1e-8, atol=1e-10)


def test_stlsq_matches_pysindy_on_the_hidden_systems(solution, hidden_stlsq_cases):
    """On the hidden test's systems: the same coefficients as pysindy, no coefficient near the threshold,
    and the 'several rounds' system really removes terms over several rounds?"""
    assert len(hidden_stlsq_cases) >= 5
    for name, theta, dxdt, threshold, max_iter, _ in hidden_stlsq_cases:
        optimizer = _pysindy_stlsq(theta, dxdt, threshold, max_iter)
        ours = solution["stlsq"](theta, dxdt, threshold, max_iter=max_iter)
        np.testing.assert_allclose(ours, optimizer.coef_.T, rtol=1e-8, atol=1e-10, err_msg=name)
        # Another correct solver (normal equations, QR) must take the same thresholding decisions.
        margins = [np.min(np.abs(np.abs(h[h != 0]) - threshold)) for h in optimizer.history_ if np.any(h != 0)]
        assert min(margins) > 1e-4, f"{name}: a coefficient lies within 1e-4 of the threshold"
        if name == "several rounds max_iter=10":
            supports = [h != 0 for h in optimizer.history_]
            changes = sum(not np.array_equal(a, b) for a, b in zip(supports[1:], supports[2:]))
            assert changes >= 2, f"{name}: thresholding should remove terms in at least three rounds"
        if name == "several rounds max_iter=2":
            full = _pysindy_stlsq(theta, dxdt, threshold, 10).coef_.T
            assert not np.allclose(ours, full), "max_iter=2 should stop before the support is stable"
        if name == "empty column":
            assert np.all(ours[:, 1] == 0)
