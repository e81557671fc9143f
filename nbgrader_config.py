"""nbgrader configuration of the course: every setting of grading, in one place.

Read once per run by the course command line (``python -m dl4phys ...``, which sets the course's
folders) and by nbgrader's own apps (``nbgrader autograde``, the formgrader of ``make lab``) when run
from this folder. Paths are relative to this file's folder, the course's root.
"""

import os

from nbconvert.preprocessors import ClearMetadataPreprocessor, CSSHTMLHeaderPreprocessor
from nbgrader.preprocessors import (
    AssignLatePenalties,
    CheckCellMetadata,
    ClearOutput,
    DeduplicateIds,
    GetGrades,
    IgnorePattern,
    LimitOutput,
    OverwriteCells,
    OverwriteKernelspec,
    SaveAutoGrades,
)

from dl4phys.preprocessors import GuardTestCells, HideHiddenTests, JudgeTestCells, SandboxedExecute

c = get_config()
COURSE = os.path.dirname(os.path.abspath(__file__))
HIDDEN_DATA = os.path.join(COURSE, "hidden_data")

c.CourseDirectory.course_id = "dl4phys"
c.CourseDirectory.ignore = [".ipynb_checkpoints", "*.pyc", "__pycache__", ".DS_Store"]

# What students see in place of the solutions.
c.ClearSolutions.code_stub = {"python": "# YOUR CODE HERE\nraise NotImplementedError()"}
c.ClearSolutions.text_stub = "YOUR ANSWER HERE"

# Every release notebook starts with the set-up cell of source/header.ipynb: on Colab, Kaggle,
# Gradient or Studio Lab it installs the course package; on the instructor's machine it does nothing.
c.IncludeHeaderFooter.header = os.path.join(COURSE, "source", "header.ipynb")

# A test cell a student deleted is put back from the source, so its points are not silently lost.
c.OverwriteCells.add_missing_cells = True

# ---- Running a student's notebook -------------------------------------------------------------------
# Seconds per cell before the autograder interrupts it (the release intros say 5 minutes); the
# whole notebook has SandboxKernelManager.walltime_s (30 minutes).
c.Execute.timeout = 300
# The kernel's own start-up warnings go to the grader's terminal, not to the notebook.
c.Execute.extra_arguments = [
    "--HistoryManager.hist_file=:memory:",
    "--IPKernelApp.log_level=ERROR",
    # The tamper guard's snapshot, before any student code (defence in depth: the judge decides).
    "--IPKernelApp.exec_lines=__import__('dl4phys.sandbox.guard').sandbox.guard.snapshot()",
]

# nbgrader scores any stderr output in an unjudged test cell as a failure. Python warnings (torch,
# fastai, matplotlib) and progress bars write to stderr: drop those outputs before scoring.
c.IgnorePattern.pattern = r"(?:\w*Warning: |warnings\.warn\(|\d+%\|)"
c.IgnorePattern.enabled = True

# Autograding: restore the graded structure from the source, guard the test cells, run the notebook in
# the sandbox, let the judge decide every probed test cell from the kernel's records (never from the
# kernel's own report), then save the grades.
c.Autograde.sanitize_preprocessors = [
    ClearOutput,
    DeduplicateIds,
    OverwriteKernelspec,
    OverwriteCells,
    GuardTestCells,
    CheckCellMetadata,
]
c.Autograde.autograde_preprocessors = [
    SandboxedExecute,
    IgnorePattern,
    JudgeTestCells,
    ClearMetadataPreprocessor,
    LimitOutput,
    SaveAutoGrades,
    AssignLatePenalties,
    CheckCellMetadata,
]
c.SandboxedExecute.kernel_name = "dl4phys-sandbox"
c.SandboxedExecute.max_output_bytes = 64_000  # per output (stream, display data, result, traceback)
c.SandboxedExecute.max_cell_output_bytes = 256_000  # per cell, in all

# ---- The sandbox (dl4phys.sandbox): limits of one student's kernel and what it may read ---------------
c.SandboxKernelManager.memory_mb = 6400  # its processes (shared pages once) plus its /tmp and /dev/shm
c.SandboxKernelManager.tmp_mb = 1024
c.SandboxKernelManager.shm_mb = 256
c.SandboxKernelManager.walltime_s = 1800
c.SandboxKernelManager.max_processes = 512
c.SandboxKernelManager.writable_mb = 256
# The hidden split's inputs (never its labels), where the kernel's dl4phys.data looks for them.
c.SandboxKernelManager.readonly_paths = [os.path.join(HIDDEN_DATA, "test_inputs.h5")]
c.SandboxKernelManager.kernel_env = {"DL4PHYS_HIDDEN_DATA": HIDDEN_DATA}

# ---- The judge (dl4phys.preprocessors.judge) ------------------------------------------------------
# Labels of the hidden split: read by the grader, never by a kernel.
c.JudgeTestCells.hidden_labels = os.path.join(HIDDEN_DATA, "test_labels.npy")
# Partial credit of the hidden-split AUC tests, per assignment and test cell: [[min_auc, fraction of the
# cell's points], ...]. Full points from the reference solution's worst CPU AUC over several seeds minus
# 0.01; part of them down to about the BDT baseline minus a margin; none below. The notebooks state them.
c.JudgeTestCells.auc_tiers = {}
# hw01_jet_tagging: the tagger on the hidden split, full points from the reference solution's worst
# hidden-split AUC (0.9866: seeds 42, 1, 2, 3, 4 on a CPU give 0.9866-0.9871) - 0.01, half from the
# BDT baseline's 0.9875 - 0.03 (logistic regression on the same features: 0.979; on tau32 and mass
# alone: 0.968). predict_top_probability's test judges its predictions on the hidden split given in
# shuffled order, put back in order: only row order and P(top) matter there, so one tier at 0.9.
c.JudgeTestCells.auc_tiers["hw01_jet_tagging"] = {
    "test_tagger_auc": [[0.9765, 1.0], [0.9575, 0.5]],
    "test_predict_top_probability": [[0.9, 1.0]],
}
# hw04_jet_images: the CNN on the hidden split, full points from the reference CNN's worst hidden-split AUC
# (0.9741: seeds 42, 1, 2, 3, 4 on a CPU give 0.9741-0.9763) - 0.01, two of three points from the BDT
# baseline's 0.9874 - 0.04. test_train_cnn judges the same CNN's predictions there only as a tagger (0.9).
c.JudgeTestCells.auc_tiers["hw04_jet_images"] = {
    "test_cnn_auc": [[0.9641, 1.0], [0.9474, 2 / 3]],
    "test_train_cnn": [[0.9, 1.0]],
}

# hw08_graph_networks: the trained LorentzNet on the hidden split. Full points from the reference
# solution's worst hidden-split AUC on a CPU (0.9503: seeds 42, 1, 2, 3, 4 give 0.9503-0.9534) - 0.01;
# half from 0.90 (scoring jets by -|m_J - m_t| alone reaches about 0.95 on these jets).
c.JudgeTestCells.auc_tiers["hw08_graph_networks"] = {"test_lorentznet_auc": [[0.9403, 1.0], [0.9000, 0.5]]}

# hw05_cnn_training: the CNN with batch norm on the hidden split. Reference solution on a CPU, seeds 0-5 of
# `experiment`: 0.962-0.971 (worst 0.9623, seed 2); full points from 0.9623 - 0.01. Half from 0.93, about what
# the same CNN reaches without batch norm (0.920-0.945 over the same seeds).
c.JudgeTestCells.auc_tiers["hw05_cnn_training"] = {"test_cnn_auc": [[0.9523, 1.0], [0.93, 0.5]]}

# hw06_transformers: the particle transformer on the hidden split, full points from the reference solution's
# worst hidden-split AUC (0.9693: seeds 42, 1, 2, 3, 4, 5 on a CPU give 0.9693-0.9751) - 0.01, half from the
# BDT baseline's 0.9875 - 0.03, as for hw01.
c.JudgeTestCells.auc_tiers["hw06_transformers"] = {
    "test_transformer_auc": [[0.9593, 1.0], [0.9575, 0.5]],
}

# Feedback shows each test's name, points, pass/fail and the judge's message, never hidden test code.
c.GenerateFeedback.preprocessors = [GetGrades, CSSHTMLHeaderPreprocessor, HideHiddenTests]
