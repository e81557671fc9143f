import sys

from .cli import main

if __name__ == "__main__":  # spawned Dask workers import this module again: do not re-run
    sys.exit(main())
