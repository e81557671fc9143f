"""Speed of jet images: the vectorised reference ``jet_images`` against a loop over ``jet_image``.

Run: ``.venv/bin/python benchmarks/bench_jet_images.py [--jets 100000] [--loop-jets 10000]``

Both functions are the reference solutions of ``source/hw04_jet_images/jet_images.ipynb`` (read from the
notebook's solution cells, so the benchmark measures what the assignment asks for). The shipped train and
valid jets are repeated up to ``--jets`` jets (10^5 by default) and imaged with ``jet_images`` in chunks
of ``--chunk`` jets (memory: about 60 float64 bytes per constituent slot and temporary); the per-jet
loop images ``--loop-jets`` of them and its time is scaled to ``--jets``. The assignment asks for
10^5 jets in under a minute on a CPU; this is measured here, not in the grade.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

NOTEBOOK = ROOT / "source" / "hw04_jet_images" / "jet_images.ipynb"


def reference_functions() -> dict:
    """``jet_image`` and ``jet_images`` from the source notebook's solution cells."""
    import nbformat

    cells = {c.metadata.get("nbgrader", {}).get("grade_id"): c.source for c in nbformat.read(NOTEBOOK, as_version=4).cells}
    namespace = {"np": np}
    for grade_id in ("jet_image", "jet_images"):
        source = "\n".join(line for line in cells[grade_id].splitlines() if "### " not in line)
        exec(compile(source, f"{NOTEBOOK.name}:{grade_id}", "exec"), namespace)
    return namespace


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jets", type=int, default=100_000)
    parser.add_argument("--loop-jets", type=int, default=10_000)
    parser.add_argument("--chunk", type=int, default=25_000)
    args = parser.parse_args()

    from dl4phys.data import load_constituents

    ref = reference_functions()
    jet_image, jet_images = ref["jet_image"], ref["jet_images"]
    pool = np.concatenate([load_constituents("train")[0], load_constituents("valid")[0]])
    jets = pool[np.arange(args.jets) % len(pool)]
    print(f"{args.jets} jets of shape {jets.shape[1:]}, {os.cpu_count()} CPUs visible, numpy {np.__version__}")

    start = time.perf_counter()
    images = np.concatenate([jet_images(jets[k : k + args.chunk]) for k in range(0, len(jets), args.chunk)])
    batch_s = time.perf_counter() - start
    print(
        f"jet_images (vectorised, chunks of {args.chunk}): {batch_s:.1f} s for {args.jets} jets "
        f"({args.jets / batch_s:,.0f} jets/s)"
    )

    n_loop = min(args.loop_jets, args.jets)
    start = time.perf_counter()
    looped = np.stack([jet_image(jet) for jet in jets[:n_loop]])
    loop_s = time.perf_counter() - start
    print(
        f"loop over jet_image: {loop_s:.1f} s for {n_loop} jets ({n_loop / loop_s:,.0f} jets/s), "
        f"so about {loop_s * args.jets / n_loop:.0f} s for {args.jets} jets"
    )
    same = np.all(np.isclose(images[:n_loop], looped, atol=1e-9), axis=(1, 2)).mean()
    print(
        f"speed-up {loop_s * args.jets / n_loop / batch_s:.1f}x; identical images: {same:.2%} of {n_loop} jets; "
        f"bound of the assignment (10^5 jets < 60 s): {'met' if batch_s * 1e5 / args.jets < 60 else 'NOT met'}"
    )


if __name__ == "__main__":
    main()
