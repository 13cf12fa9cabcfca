"""Emotions of faces in real photos, videos and camera frames; the served MLflow model."""
