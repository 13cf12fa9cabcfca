"""Versioned exported model files: ONNX for ONNX Runtime, ``.tflite`` for LiteRT (neither holds code)."""

from typing import Any

from kedro.io.core import DatasetError

from deepfer_kedro.datasets.versioned_file import VersionedFileDataset


class ExportedModelDataset(VersionedFileDataset):
    """An exported model's file, saved from its ``model_bytes`` and loaded by ``model_from_bytes``."""

    def model_from_bytes(self, data: bytes, name: str) -> Any:
        raise NotImplementedError

    def load(self) -> Any:
        path = self._get_load_path()
        with self._fs.open(path, "rb") as file:
            return self.model_from_bytes(file.read(), str(path))

    def save(self, data: Any) -> None:
        if not hasattr(data, "model_bytes"):
            raise DatasetError(f"{type(self).__name__} {self._filepath} saves an exported model, "
                               f"got {type(data).__name__}")
        with self._open_for_writing() as file:
            file.write(data.model_bytes)


class OnnxModelDataset(ExportedModelDataset):
    """Saves and loads ``deepfer_kedro.core.export.OnnxEmotionModel``.

    Example catalog entry::

        exported_model:
          type: deepfer_kedro.datasets.exported_model.OnnxModelDataset
          filepath: data/06_models/exported_model.onnx
          versioned: true
    """

    def model_from_bytes(self, data: bytes, name: str) -> Any:
        from deepfer_kedro.core.export import OnnxEmotionModel

        return OnnxEmotionModel(data, name=name)


class LiteRTModelDataset(ExportedModelDataset):
    """Saves and loads ``deepfer_kedro.core.litert.LiteRTEmotionModel`` (a ``.tflite`` file)."""

    def model_from_bytes(self, data: bytes, name: str) -> Any:
        from deepfer_kedro.core.litert import LiteRTEmotionModel

        return LiteRTEmotionModel(data, name=name)
