"""The course package of "Deep Learning for Particle Physicists".

Everything that is not a notebook lives here: checking helpers shared by the notebooks' tests
(:mod:`dl4phys.checks`), the jet data (:mod:`dl4phys.data`) and the course command line
(``python -m dl4phys``, see :mod:`dl4phys.cli`).
"""

__version__ = "0.1.0"
