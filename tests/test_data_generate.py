"""Jet generation with Pythia 8 + FastJet: determinism, resuming, the committed sample.

These tests run the real generator on a few hundred jets at most (seconds each).
"""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

from dl4phys.data import constituents, io, read_jets
from dl4phys.data import generate as gen

from .conftest import REPO

pytestmark = pytest.mark.data


def test_chunk_is_deterministic_for_a_seed():
    a = gen.generate_chunk("top", seed=4242, n_jets=4)
    b = gen.generate_chunk("top", seed=4242, n_jets=4)
    for key in ("constituents", "truth", "label", "n_events"):
        np.testing.assert_array_equal(a[key], b[key])
    c = gen.generate_chunk("top", seed=4243, n_jets=4)
    assert not np.array_equal(a["constituents"], c["constituents"])
    assert a["constituents"].shape == (4, 200, 4) and a["constituents"].dtype == np.float32
    assert (a["label"] == 1).all() and np.abs(a["truth"]).sum(axis=1).min() > 0


def test_chunk_seeds_are_distinct_and_valid():
    seeds = {gen.chunk_seed(s.seed, cls, i) for s in gen.DEFAULT_PLAN for cls in ("top", "qcd") for i in range(s.n_chunks)}
    assert len(seeds) == sum(2 * s.n_chunks for s in gen.DEFAULT_PLAN)
    assert all(1 <= s <= 900_000_000 for s in seeds)
    assert gen.chunk_seed(1, "top", 0) == gen.chunk_seed(1, "top", 0)


def test_plan_sizes():
    plan = {p.name: p for p in gen.DEFAULT_PLAN}
    assert plan["train"].jets_per_class + plan["valid"].jets_per_class == 10000
    assert plan["test"].jets_per_class == 5000
    assert len({p.seed for p in gen.DEFAULT_PLAN}) == 3
    assert sum(gen.SplitPlan("x", 1, 1001, 250).chunk_sizes()) == 1001


@pytest.mark.slow
def test_resume_and_worker_count_independence(tmp_path):
    plan = gen.SplitPlan("valid", seed=99, jets_per_class=6, chunk_jets=3)
    tasks = gen.chunk_tasks(plan)
    work1, work2 = tmp_path / "w1", tmp_path / "w2"
    gen.run_tasks(tasks, work1, workers=2, progress=False)
    gen.run_tasks(tasks, work2, workers=1, progress=False)
    a, b = gen.assemble(plan, work1), gen.assemble(plan, work2)
    for key in ("constituents", "truth", "label"):
        np.testing.assert_array_equal(a[key], b[key])
    # Interrupt: lose one chunk; a new run makes only that one, identically.
    victim = work1 / tasks[2].filename
    others = {t.filename: (work1 / t.filename).stat().st_mtime_ns for t in tasks if t is not tasks[2]}
    victim.unlink()
    gen.run_tasks(tasks, work1, workers=2, progress=False)
    assert victim.exists()
    assert others == {n: (work1 / n).stat().st_mtime_ns for n in others}
    c = gen.assemble(plan, work1)
    np.testing.assert_array_equal(a["constituents"], c["constituents"])
    # Written files are identical bytes.
    f1 = gen.write_split(plan, a, sample_dir=tmp_path / "s1")[0]
    f2 = gen.write_split(plan, c, sample_dir=tmp_path / "s2")[0]
    assert f1.read_bytes() == f2.read_bytes()
    assert a["label"].sum() == 6 and len(a["label"]) == 12


@pytest.mark.slow
def test_committed_sample_first_chunks_regenerate_bit_for_bit():
    """The shipped valid split's first top chunk and first QCD chunk, made afresh, are in
    the committed file, at the rows the fixed shuffle puts them."""
    plan = next(p for p in gen.DEFAULT_PLAN if p.name == "valid")
    tasks = gen.chunk_tasks(plan)
    first_top = next(t for t in tasks if t.cls == "top" and t.index == 0)
    first_qcd = next(t for t in tasks if t.cls == "qcd" and t.index == 0)
    df = read_jets(io.sample_path("valid"))
    consts = constituents(df)
    truth = df[io.TRUTH_COLUMNS].to_numpy()
    perm = gen.split_permutation(plan)
    inverse = np.argsort(perm)  # concatenation row -> file row
    offsets = {"top": 0, "qcd": plan.jets_per_class}
    for task in (first_top, first_qcd):
        fresh = gen.generate_chunk(task.cls, task.seed, task.n_jets)
        rows = inverse[offsets[task.cls] + np.arange(task.n_jets)]
        np.testing.assert_array_equal(consts[rows], fresh["constituents"])
        np.testing.assert_array_equal(truth[rows], fresh["truth"])
        np.testing.assert_array_equal(df["is_signal_new"].to_numpy()[rows], fresh["label"])


@pytest.mark.slow
def test_hidden_split_needs_the_instructor_seed():
    """The hidden split's first top jets, made afresh from the seed in hidden_data/seed.toml, are in
    test_inputs.h5 at the rows the fixed shuffle puts them; the package's generator with its defaults
    (what anyone who has the code can run) makes other jets, none of them in the hidden split."""
    hidden = REPO / "hidden_data"
    test = {p.name: p for p in gen.instructor_plan(hidden)}["test"]
    stand_in = {p.name: p for p in gen.DEFAULT_PLAN}["test"]
    assert stand_in.seed == gen.PUBLIC_TEST_SEED != test.seed
    consts = constituents(read_jets(hidden / io.HIDDEN_INPUTS))
    labels = np.load(hidden / io.HIDDEN_LABELS)
    n = 3  # the first jets of a chunk do not depend on the chunk's size
    fresh = gen.generate_chunk("top", gen.chunk_seed(test.seed, "top", 0), n)
    rows = np.argsort(gen.split_permutation(test))[:n]  # concatenation row -> file row
    np.testing.assert_array_equal(consts[rows], fresh["constituents"])
    assert (labels[rows] == 1).all()
    public = gen.generate_chunk("top", gen.chunk_seed(stand_in.seed, "top", 0), n)
    flat = consts.reshape(len(consts), -1)
    for jet in public["constituents"]:
        assert not (flat == jet.reshape(-1)).all(axis=1).any(), "the default test seed reproduces hidden jets"


def test_hidden_seed_missing_gives_one_line_error(tmp_path):
    """Without hidden_data/seed.toml, `generate` of the test split says so on one line."""
    env = dict(os.environ, DL4PHYS_CACHE=os.devnull, DL4PHYS_HIDDEN_DATA=str(tmp_path))
    code = "import sys; from dl4phys.data.__main__ import main; sys.exit(main(['generate', '--quiet', '--splits', 'test']))"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120)
    assert proc.returncode == 2
    assert proc.stderr.startswith("error: the hidden split's seed") and len(proc.stderr.strip().splitlines()) == 1


def test_missing_generator_gives_one_line_error(tmp_path):
    code = (
        "import sys; sys.modules['pythia8mc'] = None\n"
        "from dl4phys.data.__main__ import main\n"
        "sys.exit(main(['generate', '--quiet']))\n"
    )
    env = dict(os.environ, DL4PHYS_CACHE=os.devnull)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("error: jet generation needs the Python packages pythia8mc")
    assert "pip install" in lines[0]


def test_pythia_settings():
    top = gen.pythia_settings("top", 7)
    assert "Top:gg2ttbar = on" in top and "24:onMode = off" in top and "Random:seed = 7" in top
    assert "HardQCD:all = on" in gen.pythia_settings("qcd", 7)
    with pytest.raises(ValueError):
        gen.pythia_settings("higgs", 7)
