"""Does the instructor's HTML report show the plots, the score table and the flagged students in a browser?"""

from __future__ import annotations

import re
import shutil
import subprocess

import pytest

from dl4phys import grading

pytestmark = pytest.mark.grading


def _chromium() -> str:
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    assert path, "Chromium is not installed: `apt-get install chromium` (.ci/run does it)"
    return path


CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def test_report_page_renders_plots_table_and_flags(graded_course, tmp_path):
    """Rendered in headless Chromium, does the report load every plot and show the table and the flags?"""
    assignment = "hw02_gradient_descent"
    graded_course.ensure(assignment)
    grading.report(graded_course.course)
    page = graded_course.course.root / "report" / "index.html"
    assert page.exists()
    chromium = _chromium()
    profile = tmp_path / "profile"
    common = CHROMIUM_FLAGS + [f"--user-data-dir={profile}", "--window-size=1200,3000", "--virtual-time-budget=5000"]
    dom = subprocess.run([chromium, *common, "--dump-dom", page.as_uri()], capture_output=True, text=True, timeout=120).stdout
    images = re.findall(r"<img [^>]*>", dom)
    graded = set(grading.scores(graded_course.course).assignment)
    assert len(images) == 3 * len(graded), "three plots per graded assignment"
    assert all('data-loaded="yes"' in img for img in images), "every plot must load in the browser"
    assert 'id="scores"' in dom and "perfect" in dom and "11 / 11" in dom
    assert 'id="flagged"' in dom
    screenshot = tmp_path / "report.png"
    subprocess.run([chromium, *common, f"--screenshot={screenshot}", page.as_uri()], capture_output=True, timeout=120)
    import matplotlib.image

    pixels = matplotlib.image.imread(screenshot)
    assert pixels.shape[0] > 1000 and pixels.std() > 0.05, "the screenshot should show content, not a blank page"
