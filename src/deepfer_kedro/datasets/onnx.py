"""A versioned ONNX model file, loaded for ONNX Runtime (an ONNX file holds no code)."""

from typing import Any

from kedro.io.core import DatasetError

from deepfer_kedro.datasets.versioned_file import VersionedFileDataset


class OnnxModelDataset(VersionedFileDataset):
    """Saves and loads ``deepfer_kedro.core.export.OnnxEmotionModel``.

    Example catalog entry::

        exported_model:
          type: deepfer_kedro.datasets.onnx.OnnxModelDataset
          filepath: data/06_models/exported_model.onnx
          versioned: true
    """

    def load(self) -> Any:
        from deepfer_kedro.core.export import OnnxEmotionModel

        path = self._get_load_path()
        with self._fs.open(path, "rb") as file:
            return OnnxEmotionModel(file.read(), name=str(path))

    def save(self, data: Any) -> None:
        if not hasattr(data, "model_bytes"):
            raise DatasetError(f"OnnxModelDataset {self._filepath} saves an OnnxEmotionModel, "
                               f"got {type(data).__name__}")
        with self._open_for_writing() as file:
            file.write(data.model_bytes)
