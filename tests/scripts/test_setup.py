"""scripts/setup.sh checks the Python version before it makes anything, and installs the tested versions
(constraints.txt), which must cover and satisfy pyproject.toml."""

import shutil
import subprocess
import tomllib

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

from tests.conftest import PROJECT_ROOT


def test_an_old_python_is_refused_before_a_venv_is_made(tmp_path):
    if not shutil.which("python3.10"):
        pytest.skip("no python3.10 on this machine to try")
    (tmp_path / "scripts").mkdir()
    shutil.copy(PROJECT_ROOT / "scripts" / "setup.sh", tmp_path / "scripts")
    done = subprocess.run(["bash", "scripts/setup.sh"], cwd=tmp_path, env={"PATH": "/usr/bin:/bin:" + str(
        shutil.which("python3.10")).rsplit("/", 1)[0], "PYTHON": "python3.10"}, capture_output=True, text=True,
        timeout=60)
    assert done.returncode == 1
    assert "needs Python 3.11 or newer" in done.stderr and "PYTHON=python3.12" in done.stderr
    assert not (tmp_path / ".venv").exists()


def _pins() -> dict[str, Version]:
    pins = {}
    for line in (PROJECT_ROOT / "constraints.txt").read_text().splitlines():
        if line and not line.startswith("#"):
            name, _, version = line.partition("==")
            assert version, f"constraints.txt: {line!r} is not an exact pin (name==version)"
            assert canonicalize_name(name) not in pins, f"constraints.txt pins {name} twice"
            pins[canonicalize_name(name)] = Version(version)
    return pins


def test_every_dependency_is_pinned_to_a_version_pyproject_allows():
    project = tomllib.loads((PROJECT_ROOT / "pyproject.toml").read_text())["project"]
    pins = _pins()
    for line in project["dependencies"] + project["optional-dependencies"]["test"]:
        requirement = Requirement(line)
        name = canonicalize_name(requirement.name)
        assert name in pins, f"{requirement.name} is not in constraints.txt: run bash scripts/lock.sh"
        assert requirement.specifier.contains(pins[name], prereleases=True), (
            f"constraints.txt pins {name}=={pins[name]}, outside pyproject's {requirement.specifier}: "
            "run bash scripts/lock.sh")
