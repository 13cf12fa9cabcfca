"""The catalog dataset for raw FER2013: any layout, decoded, cached after the first load."""

from __future__ import annotations

import hashlib
import json
import logging
import os
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from kedro.io.core import AbstractDataset, DatasetError

from deepfer_kedro.fer2013 import FER2013Error, FER2013Faces, find_source, fingerprint, load_faces

logger = logging.getLogger(__name__)
# Bump when the decoded cache's content changes meaning.
CACHE_FORMAT = 1


class FER2013Dataset(AbstractDataset[None, FER2013Faces]):
    """Read-only dataset: FER2013 from ``path`` as decoded faces, cached after the first load.

    ``load()`` returns ``FER2013Faces``: ``pixels`` (N, 48, 48) uint8, ``index`` (a frame with
    ``source``, ``emotion`` and ``usage`` per row of ``pixels``), ``problems`` (undecodable or
    resized images), ``layout``, ``location``, ``source_sha256`` and ``examined`` (images looked at).
    """

    def __init__(self, *, path: str, cache_dir: str | None = None, progress: bool = True,
                 metadata: dict[str, Any] | None = None) -> None:
        self._path = Path(path)
        self._cache_dir = Path(cache_dir) if cache_dir else None
        self._progress = progress
        self.metadata = metadata

    def _describe(self) -> dict[str, Any]:
        return {"path": str(self._path), "cache_dir": str(self._cache_dir)}

    def _exists(self) -> bool:
        try:
            find_source(self._path)
        except FER2013Error:
            return False
        return True

    def save(self, data: Any) -> None:
        raise DatasetError("FER2013Dataset is read-only: the raw data is never overwritten")

    def load(self) -> FER2013Faces:
        try:
            source, layout = find_source(self._path)
            digest = fingerprint(source)  # once: it keys the cache and is recorded with the faces
            cache = self._cache_file(source, digest)
            if cache and cache.exists():
                logger.info("Reusing decoded FER2013 from %s", cache)
                return _read_cache(cache)
            faces = load_faces(self._path, progress=self._progress, found=(source, layout), sha256=digest)
        except FER2013Error as err:
            raise DatasetError(str(err)) from err  # Kedro shows a DatasetError's message as it is
        if cache:
            _write_cache(cache, faces)
        return faces

    def _cache_file(self, source: Path, digest: str) -> Path | None:
        if self._cache_dir is None:
            return None
        key = hashlib.sha256(f"{CACHE_FORMAT}|{source.resolve()}|{digest}".encode())
        return self._cache_dir / f"fer2013-{key.hexdigest()[:16]}.npz"


def _write_cache(cache: Path, faces: FER2013Faces) -> None:
    cache.parent.mkdir(parents=True, exist_ok=True)
    meta = {k: getattr(faces, k) for k in ("layout", "location", "source_sha256", "examined", "problems")}
    partial = cache.with_name(f".{cache.name}.{os.getpid()}.partial")
    with partial.open("wb") as file:
        np.savez(file, pixels=faces.pixels,
                 **{f"index_{c}": faces.index[c].to_numpy(str) for c in faces.index.columns},
                 meta=np.array(json.dumps(meta)))
    partial.replace(cache)  # atomic: a crash never leaves a half-written cache


def _read_cache(cache: Path) -> FER2013Faces:
    with np.load(cache, allow_pickle=False) as npz:
        meta = json.loads(str(npz["meta"]))
        index = pd.DataFrame({k[len("index_"):]: npz[k].astype(object) for k in npz.files
                              if k.startswith("index_")})
        return FER2013Faces(pixels=npz["pixels"], index=index, **meta)
