"""Do the set-up files agree with each other and with what the README promises?"""

from __future__ import annotations

import re

from .conftest import REPO as REPO_ROOT


def _pins(lines) -> dict[str, str]:
    pins = {}
    for line in lines:
        line = line.split("#")[0].strip().lstrip("- ").strip()
        match = re.fullmatch(r"([A-Za-z0-9_.\-\[\]]+)==([^\s]+)", line)
        if match:
            pins[match.group(1).lower()] = match.group(2)
    return pins


def test_requirements_pin_every_package_exactly():
    """Is every line of requirements.txt an exact `name==version` pin?"""
    lines = [line.strip() for line in (REPO_ROOT / "requirements.txt").read_text().splitlines()]
    lines = [line for line in lines if line and not line.startswith("#")]
    assert lines and len(_pins(lines)) == len(lines)


def test_environment_yml_mirrors_requirements():
    """Does environment.yml list the same pins as requirements.txt?"""
    requirements = _pins((REPO_ROOT / "requirements.txt").read_text().splitlines())
    environment = _pins((REPO_ROOT / "environment.yml").read_text().splitlines())
    assert environment == requirements


def test_known_bad_torch_build_is_not_pinned():
    """Is the CPU-only torch 2.13.0 build (which breaks torchvision) kept out?"""
    requirements = _pins((REPO_ROOT / "requirements.txt").read_text().splitlines())
    assert requirements["torch"] == "2.14.1" and requirements["torchvision"] == "0.29.1"


def test_readme_starts_with_the_two_commands():
    """Does the README show `make demo` and `make test` before anything else?"""
    readme = (REPO_ROOT / "README.md").read_text()
    first_code = re.search(r"```(?:bash|sh)?\n(.*?)```", readme, re.S).group(1)
    assert "make demo" in first_code and "make test" in first_code


def test_environment_yml_parses_as_a_conda_environment():
    """Is environment.yml valid YAML with a pip section that installs the course package?"""
    import yaml

    env = yaml.safe_load((REPO_ROOT / "environment.yml").read_text())
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    assert env["name"] == "dl4phys" and "-e ." in [p.split("#")[0].strip() for p in pip]
