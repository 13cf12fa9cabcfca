import numpy as np
import pytest
from kedro.io.core import DatasetError, Version

from deepfer_kedro.datasets import NpzDataset


def test_round_trip_keeps_dtype_and_values(tmp_path):
    data = {"pixels": np.arange(2 * 48 * 48, dtype=np.uint8).reshape(2, 48, 48)}
    dataset = NpzDataset(filepath=str(tmp_path / "x.npz"))
    dataset.save(data)
    loaded = dataset.load()
    assert loaded["pixels"].dtype == np.uint8
    np.testing.assert_array_equal(loaded["pixels"], data["pixels"])


def test_versions_are_kept_side_by_side(tmp_path):
    path = str(tmp_path / "x.npz")
    NpzDataset(filepath=path, version=Version(None, "v1")).save({"a": np.zeros(2)})
    NpzDataset(filepath=path, version=Version(None, "v2")).save({"a": np.ones(2)})
    assert NpzDataset(filepath=path, version=Version("v1", None)).load()["a"].sum() == 0
    assert NpzDataset(filepath=path, version=Version(None, None)).load()["a"].sum() == 2
    assert sorted(p.name for p in (tmp_path / "x.npz").iterdir()) == ["v1", "v2"]


def test_saving_something_else_is_refused(tmp_path):
    with pytest.raises(DatasetError, match="dict of arrays"):
        NpzDataset(filepath=str(tmp_path / "x.npz")).save(np.zeros(3))


def test_one_array_under_a_key_compressed(tmp_path):
    """How the catalog keeps face_pixels: one uint8 array, compressed, loaded without pickle."""
    faces = np.zeros((50, 48, 48), np.uint8)
    faces[:, 10:20] = 200
    dataset = NpzDataset(filepath=str(tmp_path / "faces.npz"), key="pixels", compress=True)
    dataset.save(faces)
    np.testing.assert_array_equal(dataset.load(), faces)
    assert (tmp_path / "faces.npz").stat().st_size < faces.nbytes / 10
    with pytest.raises(DatasetError, match="saves one array under 'pixels'"):
        dataset.save({"pixels": faces})
