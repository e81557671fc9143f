"""Generate top-tagging jets with Pythia 8 and FastJet, in the reference dataset's format.

The recipe follows the top-tagging reference dataset of Kasieczka et al. (SciPost Phys. 7,
014 (2019)) at particle level (there is no detector simulation here):

* pp collisions at sqrt(s) = 14 TeV, Pythia 8 default tune, multiple parton interactions
  off (the reference has no MPI and no pile-up);
* signal: ``Top:gg2ttbar`` + ``Top:qqbar2ttbar`` with both W bosons forced to quarks;
  background: ``HardQCD:all`` dijets; both with a generator-level window
  ``PHASESPACE_PTHAT`` on the hard-process pT around the jet window;
* visible final-state particles (every final-state particle except neutrinos) clustered
  with anti-kT, R = 0.8 (FastJet, E-scheme);
* jets with 550 < pT < 650 GeV and |eta| < 2 are kept; a signal jet must contain the top
  quark and all three of its decay quarks (b and the two quarks of the W) within
  Delta R < 0.8 of the jet axis; every jet of a QCD event that passes the cuts is kept;
* the 200 highest-pT constituents (E, px, py, pz) are stored, pT-ordered, zero-padded.

Reproducibility: work is cut into *chunks* of ``CHUNK_JETS`` jets of one class. A chunk's
Pythia seed is a function of (split seed, class, chunk index) only, so the result does not
depend on how many worker processes run, nor on the order in which chunks finish. Each
finished chunk is saved to its own ``.npz`` file in a work directory (atomically: written to
a temporary name and renamed), so an interrupted run resumes where it stopped. When all
chunks of a split exist they are assembled, shuffled with a fixed permutation and written as
an HDF5 file whose bytes are reproducible (see :func:`dl4phys.data.io.write_jets`).
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ._util import fastjet_quiet_banner, require, silence_stdout
from ._util import mp_context as _mp_context
from .io import (
    HIDDEN_INPUTS,
    HIDDEN_LABELS,
    N_CONSTITUENTS,
    SAMPLE_DIR,
    TTV,
    hidden_data_dir,
    write_jets,
)

#: Centre-of-mass energy in GeV.
ECM = 14000.0
#: Jet definition and selection of the reference dataset.
JET_R = 0.8
JET_PT_MIN, JET_PT_MAX = 550.0, 650.0
JET_ABS_ETA_MAX = 2.0
#: Maximum Delta R between the jet axis and the top quark and each of its decay quarks.
MATCH_DR = 0.8
#: Generator-level window on the hard-process pT (pT-hat), GeV.
PHASESPACE_PTHAT = (500.0, 700.0)
#: Jets of one class per chunk (the unit of work, of seeding and of resuming).
CHUNK_JETS = 250
#: Pythia accepts seeds 1 ... 900 000 000.
_MAX_SEED = 900_000_000
#: Safety net: a chunk that needs more events than this per jet is a bug (e.g. wrong cuts).
_MAX_EVENTS_PER_JET = 50

CLASSES = {"qcd": 0, "top": 1}


class GeneratorUnavailable(RuntimeError):
    """Raised when pythia8mc or fastjet cannot be imported; the message is one line."""


def require_generators():
    """Import and return ``(pythia8mc, fastjet)`` or raise :class:`GeneratorUnavailable`.

    The error message names the missing package and how to install it, on one line.
    """
    try:
        return require("pythia8mc", "fastjet", purpose="jet generation")
    except ImportError as exc:  # exercised through a subprocess test
        raise GeneratorUnavailable(str(exc)) from None


# --------------------------------------------------------------------------------------
# Plans: which splits, how many jets, which seeds
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SplitPlan:
    """One output split.

    Attributes:
        name: ``train``, ``valid`` or ``test``.
        seed: base seed of the split (every chunk seed derives from it).
        jets_per_class: number of top jets and, separately, of QCD jets.
        chunk_jets: jets of one class per chunk.
    """

    name: str
    seed: int
    jets_per_class: int
    chunk_jets: int = CHUNK_JETS

    @property
    def n_chunks(self) -> int:
        """Chunks per class."""
        return math.ceil(self.jets_per_class / self.chunk_jets)

    def chunk_sizes(self) -> list[int]:
        """Number of jets in each chunk of one class (the last one may be smaller)."""
        sizes = [self.chunk_jets] * self.n_chunks
        sizes[-1] = self.jets_per_class - self.chunk_jets * (self.n_chunks - 1)
        return sizes


#: The seed of this module's test split: a public stand-in. The hidden split's own seed is the
#: instructor's setting (:func:`hidden_split_seed`), never in the package or the students' repository.
PUBLIC_TEST_SEED = 1
#: The instructor's file in the hidden-data folder that holds the hidden split's seed (``test_seed = N``).
HIDDEN_SEED_FILE = "seed.toml"

#: The committed data. Train and valid are shipped in the package (their seeds are public); with
#: these defaults the test split is one of the same size that is *not* the hidden split:
#: :func:`instructor_plan` (``make data``) puts the hidden split's seed in its place.
DEFAULT_PLAN: tuple[SplitPlan, ...] = (
    SplitPlan("train", seed=20240101, jets_per_class=8000),
    SplitPlan("valid", seed=20240202, jets_per_class=2000),
    SplitPlan("test", seed=PUBLIC_TEST_SEED, jets_per_class=5000),
)


class HiddenSeedUnavailable(RuntimeError):
    """The hidden split's seed is not on this machine (it lives with the instructor); the message is one line."""


def hidden_split_seed(folder=None) -> int:
    """The hidden split's seed: ``test_seed`` of ``seed.toml`` in the hidden-data folder (default
    :func:`~dl4phys.data.io.hidden_data_dir`); :class:`HiddenSeedUnavailable` where it is absent."""
    import tomllib

    path = Path(folder or hidden_data_dir()) / HIDDEN_SEED_FILE
    try:
        seed = tomllib.loads(path.read_text())["test_seed"]
    except (OSError, KeyError, tomllib.TOMLDecodeError) as exc:
        raise HiddenSeedUnavailable(
            f"the hidden split's seed is the instructor's setting `test_seed = N` in {path} ({type(exc).__name__}); "
            "without it only the shipped sample can be made: generate --splits train valid"
        ) from None
    if not isinstance(seed, int) or seed == PUBLIC_TEST_SEED:
        raise HiddenSeedUnavailable(f"{path}: test_seed must be an integer other than the public {PUBLIC_TEST_SEED}")
    return seed


def instructor_plan(folder=None) -> tuple[SplitPlan, ...]:
    """:data:`DEFAULT_PLAN` with the hidden split's own seed (:func:`hidden_split_seed`): what ``make data`` makes."""
    seed = hidden_split_seed(folder)
    return tuple(SplitPlan(p.name, seed, p.jets_per_class, p.chunk_jets) if p.name == "test" else p for p in DEFAULT_PLAN)


def chunk_seed(split_seed: int, cls: str, index: int) -> int:
    """Pythia seed (1 ... 9e8) of chunk ``index`` of class ``cls`` in a split.

    Derived with :class:`numpy.random.SeedSequence` from the three numbers, so that chunks
    get independent, well-mixed seeds whatever the worker count.
    """
    state = np.random.SeedSequence([int(split_seed), CLASSES[cls], int(index)]).generate_state(1)
    return int(state[0]) % _MAX_SEED + 1


# --------------------------------------------------------------------------------------
# One Pythia + FastJet generator (one per chunk)
# --------------------------------------------------------------------------------------


def pythia_settings(cls: str, seed: int, pthat=PHASESPACE_PTHAT) -> list[str]:
    """The Pythia ``readString`` settings for class ``cls`` ("top" or "qcd") and a seed."""
    settings = [
        f"Beams:eCM = {ECM}",
        "Print:quiet = on",
        "Next:numberCount = 0",
        "Next:numberShowEvent = 0",
        "Next:numberShowProcess = 0",
        "Next:numberShowInfo = 0",
        "Random:setSeed = on",
        f"Random:seed = {seed}",
        f"PhaseSpace:pTHatMin = {pthat[0]}",
        f"PhaseSpace:pTHatMax = {pthat[1]}",
        # The reference dataset has no multiple interactions and no pile-up.
        "PartonLevel:MPI = off",
    ]
    if cls == "top":
        settings += [
            "Top:gg2ttbar = on",
            "Top:qqbar2ttbar = on",
            # W -> quarks only (d u s c b = PDG 1..5); the top itself always gives W b.
            "24:onMode = off",
            "24:onIfAny = 1 2 3 4 5",
        ]
    elif cls == "qcd":
        settings += ["HardQCD:all = on"]
    else:
        raise ValueError(f"unknown class {cls!r}; expected 'top' or 'qcd'")
    return settings


def _delta_r(y1, phi1, y2, phi2):
    dphi = (phi1 - phi2 + math.pi) % (2 * math.pi) - math.pi
    return math.hypot(y1 - y2, dphi)


class JetGenerator:
    """Generate events of one class and return the accepted jets.

    Args:
        cls: "top" or "qcd".
        seed: Pythia seed, 1 ... 9e8.
        pthat: generator-level pT-hat window (GeV).

    Use :meth:`jets` to collect a given number of jets. The object keeps one
    ``pythia8mc.Pythia`` instance; it is not picklable, create it inside the worker.
    """

    def __init__(self, cls: str, seed: int, pthat=PHASESPACE_PTHAT):
        pythia8mc, fastjet = require_generators()
        self.cls = cls
        self._fj = fastjet
        with silence_stdout():
            self.pythia = pythia8mc.Pythia("", False)
            for setting in pythia_settings(cls, seed, pthat):
                if not self.pythia.readString(setting):
                    raise RuntimeError(f"Pythia rejected the setting {setting!r}")
            if not self.pythia.init():
                raise RuntimeError("Pythia failed to initialise")
        fastjet_quiet_banner(fastjet)
        self.jet_def = fastjet.JetDefinition(fastjet.antikt_algorithm, JET_R)
        self.n_events = 0

    # -- event record helpers -----------------------------------------------------------

    @staticmethod
    def _top_decays(event):
        """Return [(top p4, [decay-quark (y, phi) ...]), ...] for each hadronic top."""
        out = []
        for i in range(event.size()):
            prt = event[i]
            if prt.idAbs() != 6:
                continue
            if event[prt.daughter1()].idAbs() == 6:  # not the last copy of the top
                continue
            quarks = []
            for d in prt.daughterList():
                dau = event[d]
                if dau.idAbs() == 24:
                    w = event[dau.iBotCopyId()]
                    for wd in w.daughterList():
                        q = event[wd]
                        if 1 <= q.idAbs() <= 5:
                            quarks.append((q.y(), q.phi()))
                elif 1 <= dau.idAbs() <= 5:
                    quarks.append((dau.y(), dau.phi()))
            if len(quarks) == 3:
                out.append(((prt.e(), prt.px(), prt.py(), prt.pz()), (prt.y(), prt.phi()), quarks))
        return out

    def _visible_final_state(self, event):
        """PseudoJets of the visible final-state particles (final state minus neutrinos)."""
        fj = self._fj
        parts = []
        for prt in event:
            if prt.isFinal() and prt.isVisible():
                parts.append(fj.PseudoJet(prt.px(), prt.py(), prt.pz(), prt.e()))
        return parts

    def next_event_jets(self):
        """Generate one event; return a list of (constituents (200, 4) float32, truth (4,))."""
        if not self.pythia.next():
            return []
        self.n_events += 1
        event = self.pythia.event
        tops = self._top_decays(event) if self.cls == "top" else None
        if tops is not None and not tops:
            return []
        cs = self._fj.ClusterSequence(self._visible_final_state(event), self.jet_def)
        accepted = []
        for jet in self._fj.sorted_by_pt(cs.inclusive_jets(JET_PT_MIN)):
            if not (JET_PT_MIN < jet.pt() < JET_PT_MAX and abs(jet.eta()) < JET_ABS_ETA_MAX):
                continue
            truth = (0.0, 0.0, 0.0, 0.0)
            if tops is not None:
                jy, jphi = jet.rap(), jet.phi_std()
                match = None
                for p4, (ty, tphi), quarks in tops:
                    if _delta_r(jy, jphi, ty, tphi) < MATCH_DR and all(
                        _delta_r(jy, jphi, qy, qphi) < MATCH_DR for qy, qphi in quarks
                    ):
                        match = p4
                        break
                if match is None:
                    continue
                truth = match
            accepted.append((_constituent_array(jet), np.asarray(truth, dtype=np.float32)))
        del cs  # constituents were copied out above; the jets die with their sequence
        return accepted

    def jets(self, n: int):
        """Collect exactly ``n`` accepted jets (events are generated in order).

        Returns:
            constituents: float32 array (n, 200, 4) of (E, px, py, pz), pT-ordered, zero-padded.
            truth: float32 array (n, 4) of the matched top's (E, px, py, pz); zeros for QCD.
        """
        consts, truths = [], []
        max_events = _MAX_EVENTS_PER_JET * max(n, 1) + 1000
        while len(consts) < n:
            if self.n_events > max_events:
                raise RuntimeError(
                    f"{self.n_events} events gave only {len(consts)} {self.cls} jets: the selection accepts (almost) nothing"
                )
            for c, t in self.next_event_jets():
                consts.append(c)
                truths.append(t)
        consts, truths = consts[:n], truths[:n]
        if n == 0:
            return np.zeros((0, N_CONSTITUENTS, 4), np.float32), np.zeros((0, 4), np.float32)
        return np.stack(consts), np.stack(truths)


def _constituent_array(jet) -> np.ndarray:
    """(200, 4) float32 (E, px, py, pz) of a jet's constituents, pT-ordered, zero-padded."""
    cons = jet.constituents()
    arr = np.array([(c.e(), c.px(), c.py(), c.pz()) for c in cons], dtype=np.float64)
    pt2 = arr[:, 1] ** 2 + arr[:, 2] ** 2
    # Stable sort on -pT^2, ties broken by the stored order: deterministic.
    order = np.argsort(-pt2, kind="stable")[:N_CONSTITUENTS]
    out = np.zeros((N_CONSTITUENTS, 4), dtype=np.float32)
    out[: len(order)] = arr[order]
    return out


def generate_chunk(cls: str, seed: int, n_jets: int, pthat=PHASESPACE_PTHAT):
    """Generate one chunk: ``n_jets`` jets of class ``cls`` from Pythia seed ``seed``.

    Returns:
        dict with ``constituents`` float32 (n_jets, 200, 4), ``truth`` float32 (n_jets, 4),
        ``label`` int8 (n_jets,) and ``n_events`` (events generated for them).
    """
    gen = JetGenerator(cls, seed, pthat)
    consts, truth = gen.jets(n_jets)
    return {
        "constituents": consts,
        "truth": truth,
        "label": np.full(n_jets, CLASSES[cls], dtype=np.int8),
        "n_events": np.int64(gen.n_events),
    }


# --------------------------------------------------------------------------------------
# Work directory, chunk files, assembling
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ChunkTask:
    """One unit of work: chunk ``index`` of class ``cls`` in ``split``."""

    split: str
    cls: str
    index: int
    seed: int
    n_jets: int

    @property
    def filename(self) -> str:
        return f"{self.split}_{self.cls}_{self.index:04d}_{self.seed}_{self.n_jets}.npz"


def chunk_tasks(plan: SplitPlan) -> list[ChunkTask]:
    """All chunk tasks of a split, in their canonical order (top chunks, then QCD chunks)."""
    tasks = []
    for cls in ("top", "qcd"):
        for i, n in enumerate(plan.chunk_sizes()):
            tasks.append(ChunkTask(plan.name, cls, i, chunk_seed(plan.seed, cls, i), n))
    return tasks


def default_workdir() -> Path:
    """Where chunk files are kept between runs: ``jetgen/`` in the course package's cache.

    The cache is :func:`~dl4phys.data.splits.cache_root`.
    """
    from .splits import cache_root

    return cache_root() / "jetgen"


def _generator_fingerprint() -> str:
    """Short hash of everything that changes the generated jets (settings and versions)."""
    _, fastjet = require_generators()
    try:
        from importlib.metadata import version

        versions = [version("pythia8mc"), version("fastjet"), np.__version__]
    except Exception:  # pragma: no cover
        versions = ["unknown"]
    blob = json.dumps(
        {
            "settings": pythia_settings("top", 1) + pythia_settings("qcd", 1),
            "cuts": [JET_R, JET_PT_MIN, JET_PT_MAX, JET_ABS_ETA_MAX, MATCH_DR, N_CONSTITUENTS],
            "versions": versions,
            "fastjet": getattr(fastjet, "__version__", "?"),
        },
        sort_keys=True,
    )
    return hashlib.sha256(blob.encode()).hexdigest()[:12]


def _save_npz_atomic(path: Path, arrays: dict) -> None:
    tmp = path.with_name(path.name + f".tmp{os.getpid()}")
    with open(tmp, "wb") as fh:
        np.savez(fh, **arrays)
    os.replace(tmp, path)


def _run_task(args):
    """Worker entry point: generate a chunk and save it; returns (filename, n_events)."""
    task, directory, pthat = args
    path = Path(directory) / task.filename
    if path.exists():
        with np.load(path) as z:
            return task.filename, int(z["n_events"])
    out = generate_chunk(task.cls, task.seed, task.n_jets, pthat)
    _save_npz_atomic(path, out)
    return task.filename, int(out["n_events"])


def load_chunk(directory: Path, task: ChunkTask) -> dict:
    """Read a chunk file written by :func:`run_tasks`."""
    with np.load(Path(directory) / task.filename) as z:
        return {k: z[k] for k in z.files}


def run_tasks(tasks, directory, workers=None, progress=True, pthat=PHASESPACE_PTHAT):
    """Generate every chunk of ``tasks`` not yet in ``directory``, in parallel.

    Args:
        tasks: list of :class:`ChunkTask`.
        directory: folder for the chunk files (created).
        workers: processes; default all cores (``os.cpu_count()``).
        progress: show a tqdm progress bar (in jets).
    Returns:
        total number of Pythia events behind the chunks.
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    workers = workers or os.cpu_count() or 1
    todo = [t for t in tasks if not (directory / t.filename).exists()]
    done_jets = sum(t.n_jets for t in tasks) - sum(t.n_jets for t in todo)
    n_events = 0
    for t in tasks:
        if t not in todo:
            with np.load(directory / t.filename) as z:
                n_events += int(z["n_events"])
    from tqdm.auto import tqdm

    bar = tqdm(
        total=sum(t.n_jets for t in tasks),
        initial=done_jets,
        unit="jet",
        desc="generating jets",
        disable=not progress,
        smoothing=0.05,
    )
    by_name = {t.filename: t for t in todo}
    try:
        if workers == 1 or len(todo) <= 1:
            for t in todo:
                name, ev = _run_task((t, str(directory), pthat))
                n_events += ev
                bar.update(by_name[name].n_jets)
        else:
            ctx = _mp_context()
            with ctx.Pool(min(workers, len(todo))) as pool:
                args = [(t, str(directory), pthat) for t in todo]
                for name, ev in pool.imap_unordered(_run_task, args):
                    n_events += ev
                    bar.update(by_name[name].n_jets)
    finally:
        bar.close()
    return n_events


def assemble(plan: SplitPlan, directory) -> dict:
    """Concatenate a split's chunks (canonical order) and shuffle with the split's seed.

    Returns:
        dict with ``constituents`` (n, 200, 4) float32, ``truth`` (n, 4) float32,
        ``label`` (n,) int8, ``permutation`` (n,) int64 (row r of the output is row
        ``permutation[r]`` of the concatenation) and ``n_events``.
    """
    tasks = chunk_tasks(plan)
    chunks = [load_chunk(directory, t) for t in tasks]
    consts = np.concatenate([c["constituents"] for c in chunks])
    truth = np.concatenate([c["truth"] for c in chunks])
    label = np.concatenate([c["label"] for c in chunks])
    perm = split_permutation(plan)
    return {
        "constituents": consts[perm],
        "truth": truth[perm],
        "label": label[perm],
        "permutation": perm,
        "n_events": int(sum(int(c["n_events"]) for c in chunks)),
    }


def split_permutation(plan: SplitPlan) -> np.ndarray:
    """The fixed shuffle of a split: a permutation of ``2 * plan.jets_per_class`` rows."""
    rng = np.random.default_rng(np.random.SeedSequence([int(plan.seed), 7]))
    return rng.permutation(2 * plan.jets_per_class)


def write_split(plan: SplitPlan, data: dict, sample_dir=None, hidden_dir=None) -> list[Path]:
    """Write an assembled split where the course reads it.

    ``train``/``valid`` go to ``<sample_dir>/<split>.h5`` in the reference format (with
    truth and labels). ``test`` is the hidden split: its inputs (constituent columns and
    ``ttv`` only, no truth, no label) go to ``<hidden_dir>/test_inputs.h5`` and the labels to
    ``<hidden_dir>/test_labels.npy``, so that a student's kernel may read the inputs without
    ever seeing the labels.
    """
    ttv = TTV[plan.name]
    if plan.name == "test":
        hidden_dir = Path(hidden_dir or hidden_data_dir())
        hidden_dir.mkdir(parents=True, exist_ok=True)
        inputs = hidden_dir / HIDDEN_INPUTS
        labels = hidden_dir / HIDDEN_LABELS
        write_jets(inputs, data["constituents"], ttv=ttv)
        tmp = labels.with_name(labels.name + ".tmp.npy")
        np.save(tmp, data["label"].astype(np.int8))
        os.replace(tmp, labels)
        return [inputs, labels]
    sample_dir = Path(sample_dir or SAMPLE_DIR)
    sample_dir.mkdir(parents=True, exist_ok=True)
    path = sample_dir / f"{plan.name}.h5"
    write_jets(path, data["constituents"], truth=data["truth"], label=data["label"], ttv=ttv)
    return [path]


@dataclass
class GenerationReport:
    """What :func:`generate_all` did: files written, jets and events per split."""

    files: list = field(default_factory=list)
    jets: dict = field(default_factory=dict)
    events: dict = field(default_factory=dict)


def generate_all(
    plan=DEFAULT_PLAN,
    workers=None,
    workdir=None,
    sample_dir=None,
    hidden_dir=None,
    progress=True,
    splits=None,
) -> GenerationReport:
    """Generate (or resume) every split of ``plan`` and write the output files.

    Args:
        plan: sequence of :class:`SplitPlan` (default: the committed sample and hidden split).
        workers: processes (default: all cores). The output does not depend on it.
        workdir: folder for the resumable chunk files (default :func:`default_workdir`).
        sample_dir, hidden_dir: where train/valid and the hidden test split go.
        splits: optional subset of split names to make.
    Returns:
        a :class:`GenerationReport`.
    """
    require_generators()
    plan = [p for p in plan if splits is None or p.name in splits]
    workdir = Path(workdir or default_workdir()) / _generator_fingerprint()
    tasks = [t for p in plan for t in chunk_tasks(p)]
    run_tasks(tasks, workdir, workers=workers, progress=progress)
    report = GenerationReport()
    for p in plan:
        data = assemble(p, workdir)
        report.files += write_split(p, data, sample_dir=sample_dir, hidden_dir=hidden_dir)
        report.jets[p.name] = int(len(data["label"]))
        report.events[p.name] = data["n_events"]
    return report
