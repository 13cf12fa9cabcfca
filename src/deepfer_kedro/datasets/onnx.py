"""A versioned ONNX model file, loaded for ONNX Runtime (an ONNX file holds no code)."""

from pathlib import PurePosixPath
from typing import Any

import fsspec
from kedro.io.core import AbstractVersionedDataset, DatasetError, Version, get_protocol_and_path


class OnnxModelDataset(AbstractVersionedDataset[Any, Any]):
    """Saves and loads ``deepfer_kedro.core.export.OnnxEmotionModel``.

    Example catalog entry::

        exported_model:
          type: deepfer_kedro.datasets.onnx.OnnxModelDataset
          filepath: data/06_models/exported_model.onnx
          versioned: true
    """

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

    def load(self) -> Any:
        from deepfer_kedro.core.export import OnnxEmotionModel

        path = self._get_load_path()
        with self._fs.open(path, "rb") as file:
            return OnnxEmotionModel(file.read(), name=str(path))

    def save(self, data: Any) -> None:
        if not hasattr(data, "model_bytes"):
            raise DatasetError(f"OnnxModelDataset {self._filepath} saves an OnnxEmotionModel, "
                               f"got {type(data).__name__}")
        path = self._get_save_path()
        self._fs.makedirs(str(PurePosixPath(path).parent), exist_ok=True)
        with self._fs.open(path, "wb") as file:
            file.write(data.model_bytes)

    def _exists(self) -> bool:
        try:
            path = self._get_load_path()
        except DatasetError:
            return False
        return self._fs.exists(path)
