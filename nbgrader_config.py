"""nbgrader configuration of the course.

Read by the course command line (``python -m dl4phys ...``, which also sets the course directory) and
by nbgrader's own apps (``nbgrader ...``, ``make lab``) when run from the repository root.
"""

c = get_config()  # noqa: F821 (provided by traitlets when it loads this file)

c.CourseDirectory.course_id = "dl4phys"
c.CourseDirectory.ignore = [".ipynb_checkpoints", "*.pyc", "__pycache__", ".DS_Store"]

# What students see in place of the solutions.
c.ClearSolutions.code_stub = {"python": "# YOUR CODE HERE\nraise NotImplementedError()"}
c.ClearSolutions.text_stub = "YOUR ANSWER HERE"

# Seconds per cell before the autograder interrupts it; training cells of the jet assignments
# take about a minute on 2 CPU cores, so this leaves a wide margin without letting a loop hang a run.
c.Execute.timeout = 300

# A test cell a student deleted is put back from the source, so its points are not silently lost.
c.OverwriteCells.add_missing_cells = True

# nbgrader scores any stderr output in a test cell as a failure. Python warnings (torch, fastai,
# matplotlib) and progress bars write to stderr, so drop those outputs before scoring; a failing
# assert still fails, since it is an error output, not a stderr stream.
c.IgnorePattern.pattern = r"(?:\w*Warning: |warnings\.warn\(|\d+%\|)"
c.IgnorePattern.enabled = True

# The kernel's own start-up warnings go to the grader's terminal, not to the notebook; keep them quiet.
c.Execute.extra_arguments = ["--HistoryManager.hist_file=:memory:", "--IPKernelApp.log_level=ERROR"]
