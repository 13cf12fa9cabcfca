"""Catalog datasets that kedro-datasets has no class for."""

from .face_shards import FaceShardsDataset
from .fer2013_dataset import FER2013Dataset
from .npz import NpzDataset
from .video_file import VideoFileDataset

__all__ = ["FER2013Dataset", "FaceShardsDataset", "NpzDataset", "VideoFileDataset"]
