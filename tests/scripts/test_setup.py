"""scripts/setup.sh checks the Python version before it makes anything."""

import shutil
import subprocess

import pytest

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
