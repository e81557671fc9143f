"""Hidden tests judged outside the student's kernel.

A hidden test is split in two halves that never meet in one process:

* a **probe** (:mod:`dl4phys.judging.probe`) runs in the student's kernel: it calls the student's
  functions on the test's (seeded) inputs and *records* what they return, with the rule each record
  is judged by, into a ``.npz`` file per test cell (no pickle: a record cannot carry code);
* a **judge** (:mod:`dl4phys.judging.judge`) runs in the grader: it compares the student's records
  with the records the same probes made against the instructor's solution (the *reference*, computed
  by running the source notebook in the same sandbox, per device), and decides the test cell's points.

The kernel's own report (its reply status, its error outputs, anything it prints) decides nothing:
a kernel that makes every cell "succeed" without computing anything has no records to show.
"""
