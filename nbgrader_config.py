"""nbgrader configuration of the course.

Read by the course command line (``python -m dl4phys ...``, which also sets the course directory) and
by nbgrader's own apps (``nbgrader ...``, ``make lab``) when run from the repository root.
"""

import os

c = get_config()  # noqa: F821 (provided by traitlets when it loads this file)

c.CourseDirectory.course_id = "dl4phys"
c.CourseDirectory.ignore = [".ipynb_checkpoints", "*.pyc", "__pycache__", ".DS_Store"]

# What students see in place of the solutions.
c.ClearSolutions.code_stub = {"python": "# YOUR CODE HERE\nraise NotImplementedError()"}
c.ClearSolutions.text_stub = "YOUR ANSWER HERE"

# Seconds per cell before the autograder interrupts it; training cells of the jet assignments
# take about a minute on 2 CPU cores, so this leaves a wide margin without letting a loop hang a run.
c.Execute.timeout = 300

# Every release notebook starts with the set-up cell of source/header.ipynb: on Colab, Kaggle,
# Gradient or Studio Lab it installs the course package; on the instructor's machine it does nothing.
c.IncludeHeaderFooter.header = os.path.join(os.path.dirname(__file__), "source", "header.ipynb")

# A test cell a student deleted is put back from the source, so its points are not silently lost.
c.OverwriteCells.add_missing_cells = True

# nbgrader scores any stderr output in a test cell as a failure. Python warnings (torch, fastai,
# matplotlib) and progress bars write to stderr, so drop those outputs before scoring; a failing
# assert still fails, since it is an error output, not a stderr stream.
c.IgnorePattern.pattern = r"(?:\w*Warning: |warnings\.warn\(|\d+%\|)"
c.IgnorePattern.enabled = True

# The kernel's own start-up warnings go to the grader's terminal, not to the notebook; keep them quiet.
c.Execute.extra_arguments = ["--HistoryManager.hist_file=:memory:", "--IPKernelApp.log_level=ERROR"]

# ---- Grading untrusted code (dl4phys.sandbox, dl4phys.preprocessors) ------------------------------
# Autograding sanitizes the submission, puts the tamper guard in front of each test cell, then runs
# it in the bubblewrap sandbox kernel; a kernel that dies scores zero from that cell on.
from nbconvert.preprocessors import ClearMetadataPreprocessor, CSSHTMLHeaderPreprocessor  # noqa: E402
from nbgrader.preprocessors import (  # noqa: E402
    AssignLatePenalties, CheckCellMetadata, ClearOutput, DeduplicateIds, GetGrades,
    IgnorePattern, LimitOutput, OverwriteCells, OverwriteKernelspec, SaveAutoGrades)

from dl4phys.preprocessors import GuardTestCells, HideHiddenTests, SandboxedExecute  # noqa: E402

c.Autograde.sanitize_preprocessors = [
    ClearOutput, DeduplicateIds, OverwriteKernelspec, OverwriteCells, GuardTestCells, CheckCellMetadata]
c.Autograde.autograde_preprocessors = [
    SandboxedExecute, IgnorePattern, "dl4phys.hidden_scoring.ScoreHiddenPredictions", ClearMetadataPreprocessor, LimitOutput, SaveAutoGrades,
    AssignLatePenalties, CheckCellMetadata]
c.SandboxedExecute.kernel_name = "dl4phys-sandbox"
c.SandboxedExecute.kernel_manager_class = "dl4phys.sandbox.SandboxKernelManager"
c.SandboxedExecute.extra_arguments = c.Execute.extra_arguments + [
    "--IPKernelApp.exec_lines=__import__('dl4phys.guard').guard.snapshot()"]

# Limits of one student's notebook in the sandbox, and the files it may read besides its own folder
# (the inputs of the hidden test split; its labels stay with the grader).
c.Sandbox.memory_mb = 6144
c.Sandbox.walltime_s = 1800
c.Sandbox.readonly_paths = [os.path.join(os.path.dirname(__file__), "hidden_data", "test_inputs.h5")]

# Feedback shows each test's name, points, pass/fail and assertion message, never hidden test code.
c.GenerateFeedback.preprocessors = [GetGrades, CSSHTMLHeaderPreprocessor, HideHiddenTests]

# ---- Hidden-split scoring (dl4phys.hidden_scoring) -----------------------------------------------
# A hidden test cell saves the tagger's predictions on the hidden split's inputs in the notebook's
# folder; after execution the grader compares them with the labels, which never enter the kernel.
# hw01_jet_tagging: at least the BDT baseline's AUC on the hidden split (0.9875, docs/jet-data.md) - 0.01.
c.ScoreHiddenPredictions.cells = {
    "test_tagger_auc": {"predictions": "hidden_test_predictions.npy", "min_auc": 0.9775},
}

# hw04_jet_images: the small CNN on the hidden split's jet images; at least the reference solution's
# worst hidden-split AUC (0.9743: seeds 42, 1, 2 on a CPU, 0.974-0.976; about 0.979 on a GPU) - 0.01.
c.ScoreHiddenPredictions.cells.update({
    "test_cnn_auc": {"predictions": "hidden_test_cnn_predictions.npy", "min_auc": 0.9643},
})

# hw06_transformers: the particle transformer on the hidden split; the reference solution's worst hidden-split
# AUC on a CPU (0.9778: seeds 42, 1, 2, 3 give 0.978-0.980) - 0.01.
c.ScoreHiddenPredictions.cells.update({
    "test_transformer_auc": {"predictions": "hidden_test_transformer_predictions.npy", "min_auc": 0.9678},
})

# ---- Hidden-split AUC tiers of the judged probes (dl4phys.judging.auc) -----------------------------
# {assignment: {grade_id: [[min_auc, fraction of the points], ...]}}; each assignment adds its own entry.
c.Judge.auc_tiers = {}

# hw05_cnn_training: the CNN with batch norm on the hidden split. Reference solution on a CPU, seeds 0-5 of
# `experiment`: 0.962-0.971 (worst 0.9623, seed 2); full points from 0.9623 - 0.01. Half from 0.93, about what
# the same CNN reaches without batch norm (0.920-0.945 over the same seeds).
c.Judge.auc_tiers["hw05_cnn_training"] = {"test_cnn_auc": [[0.9523, 1.0], [0.93, 0.5]]}
