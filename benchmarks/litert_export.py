"""The shipped model as a LiteRT (.tflite) file for phones and edge boards, against the ONNX file
deepfer runs by default, all in one run on this CPU: file size, PrivateTest top-1 (no TTA), top-1
agreement and largest probability difference with the Keras model, ms per face at batch 1 and faces
per second at batch 256 (2 threads each). The int8 rows are LiteRT's dynamic range (int8 weights,
activations quantized on the fly: what `deepfer export --format litert` writes) and its static
quantization (activations calibrated on 1,024 training faces, as the ONNX int8 file is), the choice
between them made here.

Usage: python benchmarks/litert_export.py [--data data/01_raw]"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from _report import fer2013_splits, median_seconds, table, write_section  # noqa: E402

from deepfer_kedro import default_model  # noqa: E402
from deepfer_kedro.core.config import PROJECT_ROOT  # noqa: E402
from deepfer_kedro.core.export import (  # noqa: E402
    OnnxEmotionModel,
    calibration_rows,
    compare,
    predict_all,
    uint8_model,
    uint8_signature,
)
from deepfer_kedro.core.litert import LiteRTEmotionModel, to_litert  # noqa: E402
from deepfer_kedro.inference.loading import load_default_model  # noqa: E402


def static_int8(model, path: Path, calibration: np.ndarray) -> Path:
    """LiteRT's full int8 (activations calibrated on ``calibration``), the alternative not shipped."""
    import tensorflow as tf

    def representative():
        for face in calibration:
            yield [face[None, ..., None]]

    uint8_model(model).export(str(path), format="litert", verbose=False, input_signature=uint8_signature(),
                              optimizations=[tf.lite.Optimize.DEFAULT], representative_dataset=representative)
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", default=str(PROJECT_ROOT / "data/01_raw"))
    args = parser.parse_args()
    faces, split, labels = fer2013_splits(args.data)
    test_faces, test_labels = faces.pixels[split == "test"], labels[split == "test"]
    calibration = faces.pixels[calibration_rows(split, 1024, seed=0)]  # as `deepfer export` draws them
    keras_model = load_default_model("keras")
    reference = predict_all(keras_model, test_faces)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        runners = {
            "Keras `predict_on_batch` (baseline)": (default_model.MODEL_FILE, keras_model),
            "ONNX Runtime, int8 + float re-check of near ties (deepfer's default file)": (
                default_model.ONNX_FILE, OnnxEmotionModel(default_model.ONNX_FILE, threads=2)),
            "LiteRT, float32 (`--format litert --precision float32`)": (
                to_litert(keras_model, folder / "float32.tflite", "float32"), None),
            "**LiteRT, int8 weights, dynamic range (`--format litert`)**": (
                to_litert(keras_model, folder / "int8.tflite", "int8"), None),
            "LiteRT, int8 static (activations calibrated on 1,024 training faces)": (
                static_int8(keras_model, folder / "static.tflite", calibration), None),
        }
        baseline = None
        for name, (path, model) in runners.items():
            model = model or LiteRTEmotionModel(path, threads=2)
            probabilities = predict_all(model, test_faces)
            agreement = compare(reference, probabilities)
            one, batch = test_faces[:1, ..., None], test_faces[:256, ..., None]
            ms = median_seconds(lambda m=model, o=one: m.predict_on_batch(o), 200) * 1000
            per_second = 256 / median_seconds(lambda m=model, b=batch: m.predict_on_batch(b), 5)
            baseline = baseline or ms
            rows.append({"runtime and file": name, "MB": f"{Path(path).stat().st_size / 1e6:.1f}",
                         "PrivateTest top-1": f"{(probabilities.argmax(1) == test_labels).mean():.4f}",
                         "top-1 agreement with Keras": f"{agreement['top1_agreement']:.2%}",
                         "largest probability difference": f"{agreement['max_abs_difference']:.3f}",
                         "probabilities on a 1/256 grid": f"{np.mean(np.isclose(probabilities * 256, np.round(probabilities * 256), atol=1e-4)):.0%}",  # noqa: E501
                         "ms per face, batch 1": f"{ms:.2f}", "faces/s, batch 256": f"{per_second:.0f}",
                         "vs baseline": f"{baseline / ms:.1f}x"})
            print(rows[-1], flush=True)
    body = (table(rows, list(rows[0]))
            + "\n\nThe shipped model (`deepfer_default.keras`) on all 3,589 PrivateTest faces, no TTA; batch 1 is "
              "the median of 200 calls after a warm-up, batch 256 of 5. \"On a 1/256 grid\": the share of "
              "probabilities that are multiples of 1/256, i.e. a softmax computed in int8.")
    write_section("The model on phones and edge boards (LiteRT)", "python benchmarks/litert_export.py", body)


if __name__ == "__main__":
    main()
