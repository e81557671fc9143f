#!/usr/bin/env bash
# A GPU rehearsal in one command (see tools/gpu_rehearsal.py):
#   tools/gpu-rehearsal.sh lock                  here, when the pins change: tools/gpu-rehearsal.lock
#   tools/gpu-rehearsal.sh prepare [--dry-run]   here: wheels and bubblewrap for a bare GPU machine into .rehearsal/
#   tools/gpu-rehearsal.sh run                   there, from the course root with .rehearsal carried: install, grade, print the table
set -euo pipefail
cd "$(dirname "$0")/.."
step="${1:-}"; shift || true
case "$step" in
  lock|prepare)
    PY="${PYTHON:-.venv/bin/python}"; [ -x "$PY" ] || PY=python3
    exec "$PY" tools/gpu_rehearsal.py "$step" "$@" ;;
  run)
    [ -d .rehearsal/wheels ] || { echo "error: no .rehearsal/wheels: run 'tools/gpu-rehearsal.sh prepare' on a machine with the package registries" >&2; exit 2; }
    site="$PWD/.rehearsal/site"
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target "$site" .rehearsal/wheels/*.whl
    export PYTHONPATH="$site:$PWD/src" DL4PHYS_REHEARSAL_SITE="$site" PATH="$PWD/.rehearsal/bwrap/usr/bin:$site/bin:$PATH"
    export DL4PHYS_HIDDEN_DATA="$PWD/hidden_data" PYTHONUNBUFFERED=1
    exec python3 tools/gpu_rehearsal.py grade --out "${OUT:-.}/gpu-rehearsal.md" "$@" ;;
  *) echo "usage: tools/gpu-rehearsal.sh lock | prepare [--dry-run] | run" >&2; exit 2 ;;
esac
