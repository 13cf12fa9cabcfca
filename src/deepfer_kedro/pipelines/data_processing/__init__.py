"""Dataset cataloguing: raw FER2013 in any layout -> image index, pixels, data-quality report."""

from .pipeline import create_pipeline

__all__ = ["create_pipeline"]
