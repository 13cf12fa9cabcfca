"""Training resumes after a real `kill -9`: the same command continues from the last finished epoch."""

import signal
import subprocess
import sys
import time

import pandas as pd

SCRIPT = """
import json, logging, sys
logging.basicConfig(level=logging.INFO)
import numpy as np, pandas as pd
from deepfer_kedro.core.training import train_model
rng = np.random.default_rng(0)
labels = np.repeat(np.arange(7), 120)
pixels = rng.integers(0, 60, (len(labels), 48, 48), dtype=np.uint8)
for c in range(7):  # a bright band per emotion: learnable
    pixels[labels == c, c * 6:c * 6 + 6] += 150
index = pd.DataFrame({"label": labels, "split": np.where(np.arange(len(labels)) % 5 == 0, "val", "train")})
net = {"architecture": "vgg_fer", "base_filters": 8, "stages": 2, "convs_per_stage": 1, "dense_units": [16],
       "dropout": 0.1, "l2": 0.0}
training = {"optimizer": "adam", "learning_rate": 0.003, "batch_size": 8, "epochs": 12, "verbose": 2,
            "checkpoint": {"monitor": "val_accuracy", "mode": "max"}, "resume_dir": sys.argv[1]}
model, history = train_model(pixels, index, {}, net, training, {"zoom": 0.1}, 3)
history.to_csv(sys.argv[2], index=False)
"""


def test_the_same_command_after_kill_9_continues_from_the_last_finished_epoch(tmp_path):
    resume, out = tmp_path / "resume", tmp_path / "history.csv"
    command = [sys.executable, "-c", SCRIPT, str(resume), str(out)]
    first = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.monotonic() + 300
    while not any(len(pd.read_csv(log)) >= 3 for log in resume.glob("*/history.csv") if log.stat().st_size):
        assert first.poll() is None and time.monotonic() < deadline, first.stdout.read()[-3000:]
        time.sleep(0.05)
    first.send_signal(signal.SIGKILL)
    first.wait()
    assert first.returncode == -signal.SIGKILL and not out.exists()
    finished_before = len(pd.read_csv(next(resume.glob("*/history.csv"))))

    second = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert second.returncode == 0, second.stdout[-3000:] + second.stderr[-3000:]
    assert "Resuming an interrupted training" in second.stdout + second.stderr
    history = pd.read_csv(out)
    assert history["epoch"].tolist() == list(range(1, 13))  # each epoch once: none lost, none repeated
    epochs_trained_again = (second.stdout + second.stderr).count("Epoch ")
    assert epochs_trained_again <= 12 - finished_before + 1
    assert not list(resume.iterdir())  # the state is removed once training ends


def test_a_kill_while_the_newest_state_is_written_resumes_from_the_one_before(tmp_path):
    # Keras' BackupAndRestore opens training_metadata.json for writing after the weights: a kill
    # in between leaves it empty, which Keras itself cannot read (CI saw this)
    from deepfer_kedro.core.training import _finished_epochs

    backup = tmp_path / "backup"
    backup.mkdir()
    (backup / "latest.weights.h5").write_bytes(b"epoch 3 weights")
    (backup / "latest.weights.h5.bkp").write_bytes(b"epoch 2 weights")
    (backup / "training_metadata.json").write_text("")
    (backup / "training_metadata.json.bkp").write_text('{"epoch": 2, "batch": -1}')
    pd.DataFrame({"accuracy": [0.1, 0.2, 0.3], "val_accuracy": [0.1, 0.2, 0.3]}).to_csv(tmp_path / "history.csv",
                                                                                      index=False)
    history = _finished_epochs(tmp_path)
    assert history["accuracy"].tolist() == [0.1, 0.2]
    assert (backup / "latest.weights.h5").read_bytes() == b"epoch 2 weights"
    assert (backup / "training_metadata.json").read_text() == '{"epoch": 2, "batch": -1}'
