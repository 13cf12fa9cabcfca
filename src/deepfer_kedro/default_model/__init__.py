"""The model that ships with DeepFER: used when no trained model is given or in the catalog.

Made, and its card measured on this very file, by ``benchmarks/default_model.py``."""

from pathlib import Path

FOLDER = Path(__file__).parent
MODEL_FILE = FOLDER / "deepfer_default.keras"
CARD_JSON = FOLDER / "card.json"
CARD_MD = FOLDER / "card.md"
# The same network exported to int8 ONNX for the fast CPU path, by
# `deepfer export --model default --out src/deepfer_kedro/default_model/fast`.
ONNX_FILE = FOLDER / "fast" / "deepfer.onnx"
ONNX_CARD = FOLDER / "fast" / "card.json"
# The temperature that calibrates each file's one-view confidences, fitted on PublicTest by
# `deepfer evaluate --model default [--runtime keras] --split val` (inference.temperature: null uses it).
TEMPERATURE_JSON = FOLDER / "temperature.json"


def temperature(runtime: str = "keras") -> float:
    """The shipped file's calibration temperature for ``runtime`` (1: unscaled, if it has none)."""
    import json

    try:
        return float(json.loads(TEMPERATURE_JSON.read_text())[runtime]["temperature"])
    except (OSError, KeyError, ValueError):
        return 1.0


def describe(runtime: str = "keras") -> str:
    """One line naming the shipped model and its PrivateTest numbers, for logs."""
    import json

    try:
        if runtime == "onnx":
            card = json.loads(ONNX_CARD.read_text())
            test = card["privatetest"]["exported"]
            return (f"the shipped default model's int8 ONNX export {ONNX_FILE.name} (PrivateTest top-1 "
                    f"{test['top1']:.3f} without TTA, card: {ONNX_CARD})")
        card = json.loads(CARD_JSON.read_text())
        test = card["results"]["test TTA"]
        return (f"the shipped default model {MODEL_FILE.name} (PrivateTest top-1 {test['top1']:.3f} with TTA, "
                f"card: {CARD_MD})")
    except (OSError, KeyError, ValueError):
        return f"the shipped default model {ONNX_FILE if runtime == 'onnx' else MODEL_FILE}"
