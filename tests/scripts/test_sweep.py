"""scripts/sweep.sh starts one `kedro run` per seed side by side, waits for all of them, and names a
failed seed with its exit status and the end of its log (here `kedro` is a stand-in script: the real
runs are in tests/test_tracking_server.py)."""

import subprocess
from pathlib import Path

from tests.conftest import PROJECT_ROOT


def sweep(project: Path, kedro_script: str, *args: str) -> subprocess.CompletedProcess:
    (project / "pyproject.toml").write_text("")
    (project / "conf").mkdir()
    kedro = project / "kedro"
    kedro.write_text("#!/usr/bin/env bash\n" + kedro_script)
    kedro.chmod(0o755)
    return subprocess.run(["bash", str(PROJECT_ROOT / "scripts" / "sweep.sh"), *args], cwd=project,
                          env={"PATH": "/usr/bin:/bin", "KEDRO": str(kedro)}, capture_output=True, text=True,
                          timeout=60)


def test_a_failed_seed_is_named_with_the_end_of_its_log_and_the_others_finish(tmp_path):
    fails_for_seed_2 = ('echo "kedro $*"\n'
                        'if [[ "$*" == *seed=2,* ]]; then echo "DatasetError: face_pixels not saved"; exit 1; fi\n')
    done = sweep(tmp_path, fails_for_seed_2,
                 "quick", "training.epochs=1", "1", "2", "3")
    assert done.returncode == 1  # the number of failed runs
    assert "seed 1 finished" in done.stdout and "seed 3 finished" in done.stdout
    assert "2 of 3 runs finished" in done.stdout
    assert "seed 2 FAILED (exit status 1): see data/sweeps/quick-seed2.log" in done.stderr
    assert "    DatasetError: face_pixels not saved" in done.stderr
    assert "run --env quick --params seed=3,training.epochs=1" in (tmp_path / "data/sweeps/quick-seed3.log").read_text()


def test_a_killed_seed_is_named_with_its_signal(tmp_path):
    done = sweep(tmp_path, 'echo "epoch 1/2"\nkill -KILL $$\n',  # as the out-of-memory killer does
                 "quick", "", "7")
    assert done.returncode == 1
    assert "seed 7 FAILED (exit status 137: killed by signal 9, KILL (often the kernel's out-of-memory killer" \
        in done.stderr
    assert "    epoch 1/2" in done.stderr
