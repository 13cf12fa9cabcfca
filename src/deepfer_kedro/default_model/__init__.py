"""The model that ships with DeepFER: used when no trained model is given or in the catalog.

Made, and its card measured on this very file, by ``benchmarks/default_model.py``."""

from pathlib import Path

FOLDER = Path(__file__).parent
MODEL_FILE = FOLDER / "deepfer_default.keras"
CARD_JSON = FOLDER / "card.json"
CARD_MD = FOLDER / "card.md"


def describe() -> str:
    """One line naming the shipped model and its PrivateTest numbers, for logs."""
    import json

    try:
        card = json.loads(CARD_JSON.read_text())
        test = card["results"]["test TTA"]
        return (f"the shipped default model {MODEL_FILE.name} (PrivateTest top-1 {test['top1']:.3f} with TTA, "
                f"card: {CARD_MD})")
    except (OSError, KeyError, ValueError):
        return f"the shipped default model {MODEL_FILE}"
