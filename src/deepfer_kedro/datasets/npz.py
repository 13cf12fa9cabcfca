"""A versioned NumPy ``.npz`` dataset: a dict of arrays (or one array), loaded without pickle."""

from typing import Any

import numpy as np
from kedro.io.core import DatasetError, Version

from deepfer_kedro.datasets.versioned_file import VersionedFileDataset


class NpzDataset(VersionedFileDataset):
    """Saves ``{name: array}`` as one compressed or plain ``.npz`` file; with ``key``, saves and
    loads one array stored under that name.

    Example catalog entry::

        face_pixels:
          type: deepfer_kedro.datasets.NpzDataset
          filepath: data/03_primary/face_pixels.npz
          key: pixels
          compress: true
          versioned: true
    """

    def __init__(self, *, filepath: str, key: str | None = None, compress: bool = False,
                 version: Version | None = None, metadata: dict[str, Any] | None = None) -> None:
        self._compress = compress
        self._key = key
        super().__init__(filepath=filepath, version=version, metadata=metadata)

    def _describe(self) -> dict[str, Any]:
        return {**super()._describe(), "key": self._key, "compress": self._compress}

    def load(self) -> Any:
        path = self._get_load_path()
        with self._fs.open(path, "rb") as file, np.load(file, allow_pickle=False) as npz:
            if self._key is not None:
                return npz[self._key]
            return {name: npz[name] for name in npz.files}

    def save(self, data: Any) -> None:
        if self._key is not None:
            if not isinstance(data, np.ndarray):
                raise DatasetError(f"NpzDataset {self._filepath} saves one array under {self._key!r}, "
                                   f"got {type(data).__name__}")
            data = {self._key: data}
        if not isinstance(data, dict) or not data:
            raise DatasetError(f"NpzDataset {self._filepath} saves a non-empty dict of arrays, "
                               f"got {type(data).__name__}")
        writer = np.savez_compressed if self._compress else np.savez
        with self._open_for_writing() as file:
            writer(file, **data)
