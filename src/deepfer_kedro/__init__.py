"""DeepFER: facial-emotion recognition on FER2013 with Kedro, Keras and MLflow."""

import os

# TensorFlow's C++ start-up chatter hides the run's own log lines.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# Plots are files, never windows, even where a display exists (Kedro runs nodes in threads).
os.environ.setdefault("MPLBACKEND", "Agg")

__version__ = "0.1.0"
