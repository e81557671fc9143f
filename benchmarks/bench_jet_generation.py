"""Benchmark of the jet generation: accepted jets per second per core, and the ratio to
Pythia's own event rate on the same machine.

Run: ``.venv/bin/python benchmarks/bench_jet_generation.py [--jets 400] [--events 400]``

For each class (top, QCD) it measures, on one core:

1. Pythia alone: events per second of ``pythia.next()`` with the generation settings;
2. the full pipeline (Pythia + visible final state + FastJet anti-kT + selection + top
   matching + 200-constituent arrays): accepted jets per second;

and prints the combined rate for equal numbers of top and QCD jets (what ``make data``
produces) and the ratio jets/s : Pythia events/s. With ``--parallel`` it also times the
chunked multi-process generation on all cores.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from dl4phys.data import generate as gen


def pythia_event_rate(cls: str, n_events: int, seed: int = 12345) -> float:
    """Events per second of Pythia alone (initialisation excluded)."""
    jg = gen.JetGenerator(cls, seed)
    pythia = jg.pythia
    pythia.next()  # warm up
    t0 = time.perf_counter()
    for _ in range(n_events):
        pythia.next()
    return n_events / (time.perf_counter() - t0)


def pipeline_rate(cls: str, n_jets: int, seed: int = 12345):
    """(accepted jets per second, accepted jets per event) of the full pipeline."""
    jg = gen.JetGenerator(cls, seed)
    t0 = time.perf_counter()
    jg.jets(n_jets)
    dt = time.perf_counter() - t0
    return n_jets / dt, n_jets / jg.n_events


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--jets", type=int, default=400, help="jets per class for the pipeline rate")
    parser.add_argument("--events", type=int, default=400, help="events per class for Pythia's rate")
    parser.add_argument("--parallel", action="store_true", help="also time the multi-process generation")
    args = parser.parse_args(argv)

    print(f"machine: {os.cpu_count()} cores; pT-hat window {gen.PHASESPACE_PTHAT} GeV; MPI off")
    rows = {}
    for cls in ("top", "qcd"):
        ev_rate = pythia_event_rate(cls, args.events)
        jet_rate, jets_per_event = pipeline_rate(cls, args.jets)
        rows[cls] = (ev_rate, jet_rate, jets_per_event)
        print(
            f"{cls:>4}: Pythia {ev_rate:7.1f} events/s/core | pipeline {jet_rate:7.1f} jets/s/core "
            f"| {jets_per_event:.2f} accepted jets/event | ratio jets/s : events/s = {jet_rate / ev_rate:.2f}"
        )
    # Equal numbers of both classes: time per (top + QCD) pair of jets.
    combined_jets = 2.0 / (1.0 / rows["top"][1] + 1.0 / rows["qcd"][1])
    combined_events = 2.0 / (1.0 / rows["top"][0] + 1.0 / rows["qcd"][0])
    print(
        f"both: {combined_jets:.1f} jets/s/core for a balanced sample; Pythia {combined_events:.1f} events/s/core; "
        f"ratio {combined_jets / combined_events:.2f}; target >= 60 jets/s/core: "
        f"{'met' if combined_jets >= 60 else 'NOT met'}"
    )
    if args.parallel:
        workers = os.cpu_count() or 1
        plan = gen.SplitPlan("valid", seed=777, jets_per_class=workers * 250)
        with tempfile.TemporaryDirectory() as tmp:
            t0 = time.perf_counter()
            gen.run_tasks(gen.chunk_tasks(plan), tmp, workers=workers, progress=False)
            dt = time.perf_counter() - t0
        n = 2 * plan.jets_per_class
        print(
            f"parallel: {n} jets on {workers} workers in {dt:.1f} s = {n / dt:.1f} jets/s "
            f"({n / dt / workers:.1f} jets/s/core, process start-up included)"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
