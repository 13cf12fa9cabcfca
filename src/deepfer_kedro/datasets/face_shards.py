"""Faces as ArrayRecord shards, read by row without loading the rest: the streaming input path.

One record per face (its raw uint8 pixels), in the row order of ``image_index``; a small JSON
manifest beside the shards says how many faces, their shape, and which shard holds which rows.
Reads go through grain's ``ArrayRecordDataSource`` (random access by global row), so memory
stays bounded by what is asked for, whatever the size of the dataset.
"""

import json
from pathlib import Path
from typing import Any

import numpy as np
from kedro.io.core import DatasetError, Version

from deepfer_kedro.datasets.versioned_file import VersionedFileDataset


class FaceShards:
    """Read-only, array-like view of the shards: ``len``, ``shape``, ``dtype`` and ``faces[rows]``
    (an int, a slice, an array of rows or a boolean mask), which reads only those records."""

    def __init__(self, manifest_path: str | Path) -> None:
        from grain.sources import ArrayRecordDataSource  # grain imports only when shards are used

        self.manifest_path = Path(manifest_path)
        manifest = json.loads(self.manifest_path.read_text())
        self.shape = (int(manifest["count"]), *manifest["face_shape"])
        self.dtype = np.dtype(manifest["dtype"])
        self.ndim = len(self.shape)
        self.shard_paths = [str(self.manifest_path.parent / shard["file"]) for shard in manifest["shards"]]
        missing = [p for p in self.shard_paths if not Path(p).is_file()]
        if missing:
            raise DatasetError(f"{self.manifest_path} names shards that are missing: {', '.join(missing)}")
        self._source = ArrayRecordDataSource(self.shard_paths)
        if len(self._source) != self.shape[0]:
            raise DatasetError(f"{self.manifest_path} says {self.shape[0]} faces but its shards hold "
                               f"{len(self._source)}")

    def __len__(self) -> int:
        return self.shape[0]

    def __getitem__(self, rows: Any) -> np.ndarray:
        if isinstance(rows, (int, np.integer)):
            return self[np.array([rows])][0]
        if isinstance(rows, slice):
            rows = np.arange(len(self))[rows]
        rows = np.asarray(rows)
        if rows.dtype == bool:  # a mask over every face
            if rows.shape != (len(self),):
                raise IndexError(f"a mask of {rows.shape} for {len(self)} faces in {self.manifest_path}")
            rows = np.flatnonzero(rows)
        rows = rows.astype(np.int64)
        if rows.size and (rows.min() < 0 or rows.max() >= len(self)):
            raise IndexError(f"rows out of range for {len(self)} faces in {self.manifest_path}")
        ordered = np.argsort(rows, kind="stable")  # read in file order, hand back in the order asked
        records = self._source.__getitems__(rows[ordered].tolist())
        faces = np.empty((len(rows), *self.shape[1:]), self.dtype)
        faces[ordered] = np.frombuffer(b"".join(records), self.dtype).reshape(len(rows), *self.shape[1:])
        return faces

    def __array__(self, dtype=None, copy=None) -> np.ndarray:  # np.asarray(shards): every face, in memory
        faces = self[:]
        return faces if dtype is None else faces.astype(dtype)


class FaceShardsDataset(VersionedFileDataset):
    """Saves faces (an ``(N, ...)`` array) as ArrayRecord shards of ``rows_per_shard`` faces,
    with ``filepath`` as their manifest; loads a ``FaceShards`` view that reads rows on demand.
    Local files only (ArrayRecord reads local paths).

    Example catalog entry::

        face_pixels:
          type: deepfer_kedro.datasets.FaceShardsDataset
          filepath: data/05_model_input/face_shards.json
          rows_per_shard: 4096
          versioned: true
    """

    def __init__(self, *, filepath: str, rows_per_shard: int = 4096, version: Version | None = None,
                 metadata: dict[str, Any] | None = None) -> None:
        if rows_per_shard < 1:
            raise DatasetError(f"FaceShardsDataset {filepath}: rows_per_shard must be positive, not {rows_per_shard}")
        self._rows_per_shard = int(rows_per_shard)
        super().__init__(filepath=filepath, version=version, metadata=metadata)
        if self._protocol != "file":
            raise DatasetError(f"FaceShardsDataset {filepath}: shards must be local files, not {self._protocol}://")

    def _describe(self) -> dict[str, Any]:
        return {**super()._describe(), "rows_per_shard": self._rows_per_shard}

    def load(self) -> FaceShards:
        return FaceShards(self._get_load_path())

    def save(self, data: np.ndarray) -> None:
        from array_record.python.array_record_module import ArrayRecordWriter

        if not isinstance(data, np.ndarray) or data.ndim < 2:
            raise DatasetError(f"FaceShardsDataset {self._filepath} saves an (N, ...) array of faces, "
                               f"got {type(data).__name__}")
        manifest_path = Path(self._get_save_path())
        manifest_path.parent.mkdir(parents=True, exist_ok=True)
        shards = []
        count = len(data)
        total = max(1, -(-count // self._rows_per_shard))
        for number, start in enumerate(range(0, max(count, 1), self._rows_per_shard)):
            name = f"{manifest_path.stem}-{number:05d}-of-{total:05d}.array_record"
            # group_size:1: every record its own chunk, so one face reads without its neighbours
            writer = ArrayRecordWriter(str(manifest_path.parent / name), "group_size:1")
            shard = data[start:start + self._rows_per_shard]
            for face in shard:
                writer.write(np.ascontiguousarray(face).tobytes())
            writer.close()
            shards.append({"file": name, "first_row": start, "rows": len(shard)})
        # the manifest last: shards without one are an unfinished save, never loaded
        manifest = {"count": count, "face_shape": list(data.shape[1:]), "dtype": str(data.dtype), "shards": shards}
        manifest_path.write_text(json.dumps(manifest, indent=1))
