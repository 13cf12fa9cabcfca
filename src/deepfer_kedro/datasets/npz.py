"""A versioned NumPy ``.npz`` dataset: a dict of arrays, loaded without pickle."""

from pathlib import PurePosixPath
from typing import Any

import fsspec
import numpy as np
from kedro.io.core import AbstractVersionedDataset, DatasetError, Version, get_protocol_and_path


class NpzDataset(AbstractVersionedDataset[dict[str, np.ndarray], dict[str, np.ndarray]]):
    """Saves ``{name: array}`` as one compressed or plain ``.npz`` file.

    Example catalog entry::

        face_pixels:
          type: deepfer_kedro.datasets.NpzDataset
          filepath: data/03_primary/face_pixels.npz
          versioned: true
    """

    def __init__(self, *, filepath: str, compress: bool = False, version: Version | None = None,
                 metadata: dict[str, Any] | None = None) -> None:
        protocol, path = get_protocol_and_path(filepath, version)
        self._protocol = protocol
        self._fs = fsspec.filesystem(protocol)
        self._compress = compress
        self.metadata = metadata
        super().__init__(filepath=PurePosixPath(path), version=version,
                         exists_function=self._fs.exists, glob_function=self._fs.glob)

    def _describe(self) -> dict[str, Any]:
        return {"filepath": self._filepath, "version": self._version, "compress": self._compress}

    def load(self) -> dict[str, np.ndarray]:
        path = self._get_load_path()
        with self._fs.open(path, "rb") as file, np.load(file, allow_pickle=False) as npz:
            return {name: npz[name] for name in npz.files}

    def save(self, data: dict[str, np.ndarray]) -> None:
        if not isinstance(data, dict) or not data:
            raise DatasetError(f"NpzDataset {self._filepath} saves a non-empty dict of arrays, "
                               f"got {type(data).__name__}")
        path = self._get_save_path()
        self._fs.makedirs(str(PurePosixPath(path).parent), exist_ok=True)
        writer = np.savez_compressed if self._compress else np.savez
        with self._fs.open(path, "wb") as file:
            writer(file, **data)

    def _exists(self) -> bool:
        try:
            path = self._get_load_path()
        except DatasetError:
            return False
        return self._fs.exists(path)
