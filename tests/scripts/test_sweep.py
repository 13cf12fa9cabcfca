"""scripts/sweep.sh starts one `kedro run` per seed side by side, waits for all of them, and names a
failed seed with the end of its log (here `kedro` is a stand-in script: the real runs are in
tests/test_tracking_server.py)."""

import subprocess

from tests.conftest import PROJECT_ROOT


def test_a_failed_seed_is_named_with_the_end_of_its_log_and_the_others_finish(tmp_path):
    (tmp_path / "pyproject.toml").write_text("")
    (tmp_path / "conf").mkdir()
    kedro = tmp_path / "kedro"
    kedro.write_text('#!/usr/bin/env bash\necho "kedro $*"\n'
                     'if [[ "$*" == *seed=2,* ]]; then\n'
                     '  echo "DatasetError: face_pixels could not be saved"; exit 1\n'
                     'fi\n')
    kedro.chmod(0o755)
    sweep = PROJECT_ROOT / "scripts" / "sweep.sh"
    done = subprocess.run(["bash", str(sweep), "quick", "training.epochs=1", "1", "2", "3"],
                          cwd=tmp_path, env={"PATH": "/usr/bin:/bin", "KEDRO": str(kedro)},
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 1  # the number of failed runs
    assert "seed 1 finished" in done.stdout and "seed 3 finished" in done.stdout
    assert "2 of 3 runs finished" in done.stdout
    assert "seed 2 FAILED: see data/sweeps/quick-seed2.log" in done.stderr
    assert "    DatasetError: face_pixels could not be saved" in done.stderr
    assert "run --env quick --params seed=3,training.epochs=1" in (tmp_path / "data/sweeps/quick-seed3.log").read_text()
