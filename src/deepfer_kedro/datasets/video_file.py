"""A video file for the inference pipeline, handed over as its path: OpenCV reads the frames one
at a time, so a video never has to fit in memory."""

from pathlib import Path
from typing import Any

from kedro.io.core import AbstractDataset, DatasetError, get_protocol_and_path


class VideoFileDataset(AbstractDataset[None, str]):
    """Loads the local path of a video file (read-only).

    Example catalog entry (one partition per file of a folder)::

        inference_videos:
          type: partitions.PartitionedDataset
          path: data/05_model_input/inference
          dataset: deepfer_kedro.datasets.VideoFileDataset
    """

    def __init__(self, *, filepath: str, metadata: dict[str, Any] | None = None) -> None:
        protocol, path = get_protocol_and_path(filepath)
        if protocol != "file":
            raise DatasetError(f"{filepath}: videos are read from local disk (OpenCV opens them by path); "
                               f"copy it to a local folder")
        self._path = Path(path)
        self.metadata = metadata

    def load(self) -> str:
        if not self._path.is_file():
            raise DatasetError(f"{self._path}: no such video file")
        return str(self._path)

    def save(self, data: None) -> None:
        raise DatasetError("VideoFileDataset is read-only: the inference pipeline only reads videos")

    def _describe(self) -> dict[str, Any]:
        return {"filepath": str(self._path)}

    def _exists(self) -> bool:
        return self._path.is_file()
