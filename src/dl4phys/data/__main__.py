"""Command line of the course data: ``python -m dl4phys.data {generate,plots,download,weights}``.

* ``generate [--workers N] [--workdir DIR] [--splits train valid test]`` regenerates the
  shipped sample (``dl4phys/data/sample/{train,valid}.h5``) and the hidden split
  (``hidden_data/test_inputs.h5`` + ``test_labels.npy``, from the seed in
  ``hidden_data/seed.toml``), bit-for-bit, resuming an interrupted run from its chunk files.
* ``plots --out DIR [--split train]`` writes PNGs of jet mass, tau_32 and constituent
  multiplicity for top and QCD jets.
* ``download --dest DIR [--base-url URL] [--files ...]`` fetches the reference dataset and
  prints the md5 of each file (also written to ``DIR/MD5SUMS``).
* ``weights [--dest DIR] [--url URL]`` fetches the ImageNet weights of ResNet-18 (homework 4) into the
  course cache once, where the grader shows them to the sandboxed notebooks (:mod:`dl4phys.data.pretrained`).

``generate`` and ``plots`` are the instructor's: the students' copy of the package has neither
module, and offers only ``download`` and ``weights``.

Errors are reported on one line (``error: ...``) with exit status 2.
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
import time
from pathlib import Path


def _cmd_generate(args) -> int:
    from .generate import (
        DEFAULT_PLAN,
        GeneratorUnavailable,
        HiddenSeedUnavailable,
        default_workdir,
        generate_all,
        instructor_plan,
        require_generators,
    )

    try:
        t0 = time.time()
        require_generators()
        hidden = args.splits is None or "test" in args.splits
        report = generate_all(
            instructor_plan() if hidden else DEFAULT_PLAN,
            workers=args.workers,
            workdir=args.workdir or default_workdir(),
            splits=args.splits,
            progress=not args.quiet,
        )
    except (GeneratorUnavailable, HiddenSeedUnavailable) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    for split in report.jets:
        print(f"{split}: {report.jets[split]} jets from {report.events[split]} events")
    for path in report.files:
        print(f"wrote {path}")
    print(f"done in {time.time() - t0:.0f} s")
    return 0


def _cmd_plots(args) -> int:
    from .io import HiddenDataUnavailable
    from .plots import make_plots

    try:
        paths = make_plots(args.out, split=args.split)
    except (HiddenDataUnavailable, ImportError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    for path in paths:
        print(f"wrote {path}")
    return 0


def _cmd_download(args) -> int:
    from .reference import BASE_URL, RECORD_URL, DownloadError, download_reference

    try:
        paths = download_reference(args.dest, files=args.files, base_url=args.base_url or BASE_URL)
    except (DownloadError, ImportError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    for name, path in paths.items():
        print(f"{name}: {path}")
    md5sums = Path(args.dest).expanduser() / "MD5SUMS"
    print(f"md5 sums (compare them with {RECORD_URL}), also in {md5sums}:")
    print(md5sums.read_text(), end="")
    return 0


def _cmd_weights(args) -> int:
    from .pretrained import RESNET18_URL, WeightsUnavailable, download_weights

    try:
        path = download_weights(args.url or RESNET18_URL, args.dest, progress=not args.quiet)
    except WeightsUnavailable as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"weights: {path}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m dl4phys.data", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)

    if importlib.util.find_spec("dl4phys.data.generate") is not None:  # absent from the students' copy
        _instructor_commands(sub)
    dl = sub.add_parser("download", help="download the top-tagging reference dataset")
    dl.add_argument("--dest", required=True)
    dl.add_argument("--base-url", default=None, help="mirror to use instead of the Zenodo record")
    dl.add_argument("--files", nargs="+", default=None, help="subset of train.h5 val.h5 test.h5")
    dl.set_defaults(func=_cmd_download)

    weights = sub.add_parser("weights", help="download the ImageNet weights of ResNet-18 into the course cache")
    weights.add_argument("--dest", default=None, help="folder (default: the course cache's weights/ folder)")
    weights.add_argument("--url", default=None, help="where to fetch them (default: torchvision's URL)")
    weights.add_argument("--quiet", action="store_true", help="no progress bar")
    weights.set_defaults(func=_cmd_weights)
    return parser


def _instructor_commands(sub) -> None:
    gen = sub.add_parser("generate", help="regenerate the shipped sample and the hidden split")
    gen.add_argument("--workers", type=int, default=None, help="processes (default: all cores)")
    gen.add_argument("--workdir", default=None, help="chunk files for resuming (default ~/.cache/dl4phys/jetgen)")
    gen.add_argument("--splits", nargs="+", choices=["train", "valid", "test"], default=None)
    gen.add_argument("--quiet", action="store_true", help="no progress bar")
    gen.set_defaults(func=_cmd_generate)

    plots = sub.add_parser("plots", help="PNG plots of jet mass, tau_32 and multiplicity")
    plots.add_argument("--out", required=True)
    plots.add_argument("--split", default="train", choices=["train", "valid", "test"])
    plots.set_defaults(func=_cmd_plots)


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
