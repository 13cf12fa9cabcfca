"""What the project's versioned single-file datasets share: the path, its filesystem and versions."""

from pathlib import PurePosixPath
from typing import Any

import fsspec
from kedro.io.core import AbstractVersionedDataset, DatasetError, Version, get_protocol_and_path


class VersionedFileDataset(AbstractVersionedDataset[Any, Any]):
    """A versioned file at ``filepath`` on any fsspec filesystem; subclasses read and write it."""

    def __init__(self, *, filepath: str, version: Version | None = None,
                 metadata: dict[str, Any] | None = None) -> None:
        protocol, path = get_protocol_and_path(filepath, version)
        self._protocol = protocol
        self._fs = fsspec.filesystem(protocol)
        self.metadata = metadata
        super().__init__(filepath=PurePosixPath(path), version=version,
                         exists_function=self._fs.exists, glob_function=self._fs.glob)

    def _describe(self) -> dict[str, Any]:
        return {"filepath": self._filepath, "version": self._version}

    def _open_for_writing(self):
        path = self._get_save_path()
        self._fs.makedirs(str(PurePosixPath(path).parent), exist_ok=True)
        return self._fs.open(path, "wb")

    def _exists(self) -> bool:
        try:
            path = self._get_load_path()
        except DatasetError:
            return False
        return self._fs.exists(path)
