"""Exporting a trained Keras model to LiteRT (TensorFlow Lite), the format phones and edge boards run
(Android, iOS, a Raspberry Pi), and running the exported file with LiteRT's interpreter. Like the
ONNX export, the file takes (N, 48, 48, 1) uint8 faces and scales them itself. A ``.tflite`` file is a
flatbuffer of operators and weights: loading one never runs code from it."""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Any

import numpy as np

from deepfer_kedro.core.errors import NotAModelError
from deepfer_kedro.core.export import as_face_batch, predict_all, read_model_file, uint8_model, uint8_signature
from deepfer_kedro.labels import IMAGE_SIZE, NUM_CLASSES

# An exported file larger than this is not a DeepFER model (ours is 7-29 MB); refused before parsing.
MAX_LITERT_BYTES = 512 * 2**20


class NotALiteRTModelError(NotAModelError):
    """A file that is not a LiteRT emotion model this project can run."""


class LiteRTExportError(RuntimeError):
    """The LiteRT export cannot run in this process."""


def require_tensorflow_backend() -> None:
    """Keras exports LiteRT only from its TensorFlow backend (training may use JAX or PyTorch)."""
    import keras

    if keras.backend.backend() != "tensorflow":
        raise LiteRTExportError(f"The LiteRT export needs Keras' TensorFlow backend (this process uses "
                                f"{keras.backend.backend()}): run it with KERAS_BACKEND=tensorflow")


def to_litert(model: Any, path: str | Path, precision: str = "int8") -> Path:
    """``model`` (a Keras emotion model, TensorFlow backend) as a ``.tflite`` file taking uint8 faces
    named ``faces``. ``precision`` int8: weights stored in int8 and activations quantized on the fly
    (LiteRT's dynamic range), a quarter of the size and 4 times as fast on a CPU as float32, the softmax
    in float; against static int8 (activations calibrated on training faces) it followed the Keras
    model on 99.8% of PrivateTest faces instead of 99.3%, with probabilities not rounded to multiples
    of 1/256, for 5% more time a face at batch 1 and 12% batched (docs/benchmarks.md). float32: the
    Keras model's probabilities."""
    if precision not in ("int8", "float32"):
        raise ValueError(f"precision must be int8 or float32, not {precision!r}")
    require_tensorflow_backend()
    import tensorflow as tf

    options = {"optimizations": [tf.lite.Optimize.DEFAULT]} if precision == "int8" else {}
    path = Path(path)
    uint8_model(model).export(str(path), format="litert", verbose=False, input_signature=uint8_signature(), **options)
    return path


class LiteRTEmotionModel:
    """An exported ``.tflite`` emotion model run by LiteRT's interpreter (``ai-edge-litert``, no
    TensorFlow needed); ``predict_on_batch`` takes (N, 48, 48, 1) or (N, 48, 48) uint8 faces like the
    Keras model's, so either can drive ``EmotionPredictor``. ``source`` is a file path or its bytes."""

    def __init__(self, source: str | Path | bytes, name: str | None = None, threads: int | None = None) -> None:
        from ai_edge_litert.interpreter import Interpreter

        self.name = name or ("LiteRT model" if isinstance(source, bytes) else str(source))
        self.model_bytes = read_model_file(source, MAX_LITERT_BYTES, NotALiteRTModelError)
        try:
            self.interpreter = Interpreter(model_content=self.model_bytes,
                                           num_threads=threads or min(4, os.cpu_count() or 1))
            inputs, outputs = self.interpreter.get_input_details(), self.interpreter.get_output_details()
        except Exception as err:  # the interpreter raises ValueError or RuntimeError for a damaged or foreign file
            raise NotALiteRTModelError(f"{self.name}: cannot be loaded as a LiteRT model ({err})") from err
        shape_in = tuple(inputs[0]["shape_signature"][1:]) if len(inputs) == 1 else ()
        shape_out = tuple(outputs[0]["shape_signature"][1:]) if len(outputs) == 1 else ()
        if len(inputs) != 1 or inputs[0]["dtype"] != np.uint8 or shape_in != (IMAGE_SIZE, IMAGE_SIZE, 1) \
                or shape_out != (NUM_CLASSES,):
            takes = [(i["name"], i["dtype"].__name__, i["shape_signature"].tolist()) for i in inputs]
            raise NotALiteRTModelError(
                f"{self.name}: takes {takes} and gives {[o['shape_signature'].tolist() for o in outputs]}; a "
                "DeepFER LiteRT model takes one uint8 "
                f"tensor of (N, {IMAGE_SIZE}, {IMAGE_SIZE}, 1) faces and gives {NUM_CLASSES} probabilities (make one "
                "with `deepfer export --format litert`)")
        self.input_index, self.output_index = inputs[0]["index"], outputs[0]["index"]
        self.batch_size = 0
        self.lock = threading.Lock()  # an interpreter runs one call at a time (ONNX Runtime sessions need none)

    def predict_on_batch(self, faces: np.ndarray) -> np.ndarray:
        faces = as_face_batch(faces)
        if not len(faces):
            return np.zeros((0, NUM_CLASSES), np.float32)
        with self.lock:
            if len(faces) != self.batch_size:
                self.interpreter.resize_tensor_input(self.input_index, list(faces.shape))
                self.interpreter.allocate_tensors()
                self.batch_size = len(faces)
            self.interpreter.set_tensor(self.input_index, faces)
            self.interpreter.invoke()
            return self.interpreter.get_tensor(self.output_index).copy()

    def predict(self, faces: np.ndarray, batch_size: int = 256, verbose: int = 0) -> np.ndarray:
        """Keras' ``predict``, so that evaluation code takes either model."""
        return predict_all(self, faces, batch_size)

    def save(self, path: str | Path) -> None:
        Path(path).write_bytes(self.model_bytes)

    def __deepcopy__(self, memo: dict) -> LiteRTEmotionModel:
        return self  # the file does not change; a Kedro MemoryDataset copies what it holds

    def __repr__(self) -> str:
        return f"LiteRTEmotionModel({self.name!r})"
