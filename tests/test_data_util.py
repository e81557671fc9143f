"""dl4phys.data._util.require: optional imports with a one-line message naming what to install."""

from __future__ import annotations

import sys
import tomllib

import pytest

from dl4phys.data._util import GRADING_EXTRA, REQUIREMENTS, require

from .conftest import REPO

pytestmark = pytest.mark.data


def test_require_returns_the_modules():
    import json
    import math

    assert require("json", purpose="x") is json
    assert require("json", "math", purpose="x") == (json, math)


def test_missing_module_names_the_pinned_requirement(monkeypatch):
    monkeypatch.setitem(sys.modules, "fastjet", None)  # an import of it fails
    with pytest.raises(ImportError) as info:
        require("fastjet", "awkward", purpose="N-subjettiness")
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith("N-subjettiness needs the Python packages fastjet and awkward: install them with")
    assert "`pip install fastjet==3.5.2.0 awkward` (or the extra dl4phys[grading])" in message


def test_pins_agree_with_requirements_and_pyproject():
    pins = {}
    for line in (REPO / "requirements.txt").read_text().splitlines():
        if "==" in line and not line.startswith("#"):
            name, version = line.split("==")
            pins[name.strip()] = version.strip()
    for module, requirement in REQUIREMENTS.items():
        if "==" in requirement:
            name, version = requirement.split("==")
            assert pins.get(name) == version, requirement
        else:
            assert module not in pins, f"{module} is pinned in requirements.txt"
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    assert set(project["optional-dependencies"]["grading"]) >= GRADING_EXTRA
    assert not GRADING_EXTRA & set(project["dependencies"])
