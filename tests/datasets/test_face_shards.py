"""The streaming input path: faces saved as ArrayRecord shards, read back by row, give the same
batches and the same training as the decoded array in memory, within bounded memory."""

import json
import subprocess
import sys

import numpy as np
import pytest
from kedro.io.core import DatasetError

from deepfer_kedro.core.batches import FaceBatches
from deepfer_kedro.datasets import FaceShardsDataset
from tests.conftest import PROJECT_ROOT


def saved_shards(tmp_path, faces: np.ndarray, rows_per_shard: int = 128):
    dataset = FaceShardsDataset(filepath=str(tmp_path / "face_shards.json"), rows_per_shard=rows_per_shard)
    dataset.save(faces)
    return dataset.load()


def test_shards_read_back_any_rows_as_saved(tmp_path):
    faces = np.random.default_rng(0).integers(0, 256, (1000, 48, 48), dtype=np.uint8)
    shards = saved_shards(tmp_path, faces)
    assert len(shards.shard_paths) == 8 and shards.shape == faces.shape and shards.dtype == np.uint8
    rows = np.array([999, 0, 513, 128, 127, 513])  # across shards, unsorted, repeated
    np.testing.assert_array_equal(shards[rows], faces[rows])
    np.testing.assert_array_equal(shards[5], faces[5])
    np.testing.assert_array_equal(shards[10:300:7], faces[10:300:7])
    np.testing.assert_array_equal(np.asarray(shards), faces)
    mask = np.arange(1000) % 3 == 0
    np.testing.assert_array_equal(shards[mask], faces[mask])
    with pytest.raises(IndexError):
        shards[np.array([1000])]


def test_a_missing_shard_or_an_unfinished_save_is_named(tmp_path):
    faces = np.zeros((300, 48, 48), np.uint8)
    shards = saved_shards(tmp_path, faces)
    manifest = json.loads(shards.manifest_path.read_text())
    (shards.manifest_path.parent / manifest["shards"][1]["file"]).unlink()
    with pytest.raises(DatasetError, match=r"face_shards\.json names shards that are missing: .*00001-of-00003"):
        FaceShardsDataset(filepath=str(tmp_path / "face_shards.json")).load()
    shards.manifest_path.unlink()  # shards written, manifest not yet: nothing to load
    assert not FaceShardsDataset(filepath=str(tmp_path / "face_shards.json")).exists()
    with pytest.raises(DatasetError, match="saves an"):
        FaceShardsDataset(filepath=str(tmp_path / "other.json")).save([1, 2, 3])


def test_same_seed_gives_the_same_batches_from_memory_and_from_shards(tmp_path):
    faces = np.random.default_rng(1).integers(0, 256, (700, 48, 48), dtype=np.uint8)
    labels = np.arange(700) % 7
    shards = saved_shards(tmp_path, faces, rows_per_shard=100)
    rows = np.arange(50, 650)
    weights = np.linspace(0.5, 2, 7)
    in_memory = FaceBatches(faces, rows, labels[rows], 64, seed=3, class_weights=weights)
    streamed = FaceBatches(shards, rows, labels[rows], 64, seed=3, class_weights=weights)
    assert len(in_memory) == len(streamed) == 10
    seen = []
    for epoch in (0, 1):
        in_memory.set_epoch(epoch)
        streamed.set_epoch(epoch)
        for index in (0, 4, 9):  # the last batch is partial
            for a, b in zip(in_memory[index], streamed[index], strict=True):
                np.testing.assert_array_equal(a, b)
        seen.append(in_memory[0][0])
        assert in_memory[9][0].shape == (600 - 9 * 64, 48, 48, 1)
    assert not np.array_equal(seen[0], seen[1])  # a new order each epoch
    other_seed = FaceBatches(faces, rows, labels[rows], 64, seed=4)
    assert not np.array_equal(other_seed[0][0], seen[0])
    every_row = np.concatenate([in_memory[i][0] for i in range(len(in_memory))])
    np.testing.assert_array_equal(np.sort(every_row.reshape(600, -1), axis=0),
                                  np.sort(faces[rows].reshape(600, -1), axis=0))  # each row once per epoch


def test_training_from_shards_matches_training_from_memory(tmp_path):
    from deepfer_kedro.core.training import train_model
    from tests.pipelines.training.test_nodes import SMALL_NET, TRAINING, WEIGHTS, learnable_faces

    faces, index = learnable_faces(4)
    shards = saved_shards(tmp_path, faces, rows_per_shard=50)
    recipe = ({**TRAINING, "epochs": 2}, {"zoom": 0.1})
    from_memory = train_model(faces, index, WEIGHTS, SMALL_NET, recipe[0], recipe[1], 5)[1]
    from_shards = train_model(shards, index, WEIGHTS, SMALL_NET, recipe[0], recipe[1], 5)[1]
    timing = ["epoch_seconds"]
    np.testing.assert_allclose(from_memory.drop(columns=timing).to_numpy(),
                               from_shards.drop(columns=timing).to_numpy(), rtol=1e-5)


MEMORY_PROBE = """
import sys, numpy as np
import grain.sources  # the reader's code, imported before the baseline in both modes
from deepfer_kedro.core.batches import FaceBatches
from deepfer_kedro.datasets import FaceShardsDataset
def rss_mb():  # resident now (ru_maxrss would keep the peak of the imports)
    return int(open("/proc/self/statm").read().split()[1]) * 4096 // 2**20
before = rss_mb()
faces = FaceShardsDataset(filepath=sys.argv[1]).load()
if sys.argv[2] == "memory":
    faces = np.asarray(faces)
labels = np.zeros(len(faces), np.int64)
batches = FaceBatches(faces, np.arange(len(faces)), labels, 64, seed=0)
for i in range(10):
    batches[i]
settled = rss_mb()  # readers open, first batches read
peak = settled
for epoch in range(2):
    batches.set_epoch(epoch)
    for i in range(len(batches)):
        batches[i]
        peak = max(peak, rss_mb())
print(peak - before, peak - settled)
"""


@pytest.mark.slow
def test_streaming_an_epoch_keeps_memory_bounded_by_a_few_batches(tmp_path):
    count, side = 12_000, 96  # 110 MB of faces; a batch of 64 is 0.6 MB
    dataset = FaceShardsDataset(filepath=str(tmp_path / "big.json"), rows_per_shard=1024)
    rng = np.random.default_rng(0)
    dataset.save(rng.integers(0, 256, (count, side, side), dtype=np.uint8))
    grown = {}
    for mode in ("shards", "memory"):
        probe = subprocess.run([sys.executable, "-c", MEMORY_PROBE, str(tmp_path / "big.json"), mode],
                               capture_output=True, text=True, timeout=600, cwd=PROJECT_ROOT)
        assert probe.returncode == 0, probe.stderr[-3000:]
        grown[mode] = [int(mb) for mb in probe.stdout.split()[-2:]]
    assert grown["memory"][0] > 100, grown  # the probe sees the whole array when it is in memory (MB)...
    # ...and, streaming, the shard readers and a few batches, which do not grow over two epochs
    assert grown["shards"][0] < 40 and grown["shards"][1] < 4, grown
