"""nbgrader preprocessors of the course, one module each, selected in ``nbgrader_config.py``.

* :class:`SandboxedExecute` (:mod:`.sandboxed_execute`): execute in the bubblewrap sandbox, survive
  kernel deaths, cap outputs in bytes, hand the kernel's records to the judge;
* :class:`GuardTestCells` (:mod:`.guard_cells`): the tamper guard in front of every test cell;
* :class:`JudgeTestCells` (:mod:`.judge`): decide every probed test cell outside the kernel;
* :class:`HideHiddenTests` (:mod:`.hide_hidden_tests`): feedback without hidden tests.
"""

from .guard_cells import GuardTestCells
from .hide_hidden_tests import HideHiddenTests
from .judge import JudgeTestCells
from .sandboxed_execute import SandboxedExecute

__all__ = ["GuardTestCells", "HideHiddenTests", "JudgeTestCells", "SandboxedExecute"]
