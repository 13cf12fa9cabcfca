"""The one place that names the emotions, the image size and the splits."""

# Alphabetical, as in the Kaggle folder layout; the model's output order.
EMOTIONS: tuple[str, ...] = ("angry", "disgust", "fear", "happy", "neutral", "sad", "surprise")
NUM_CLASSES = len(EMOTIONS)
# The probability columns of every prediction table, in the model's output order.
PROBABILITY_COLUMNS: list[str] = [f"p_{emotion}" for emotion in EMOTIONS]
IMAGE_SIZE = 48

# The challenge CSV numbers emotions differently: 0=Angry 1=Disgust 2=Fear 3=Happy 4=Sad
# 5=Surprise 6=Neutral.
CSV_EMOTION_CODES: dict[int, str] = {
    0: "angry", 1: "disgust", 2: "fear", 3: "happy", 4: "sad", 5: "surprise", 6: "neutral",
}

# Official FER2013 usages and the split each one is used as.
USAGE_TO_SPLIT: dict[str, str] = {"Training": "train", "PublicTest": "val", "PrivateTest": "test"}
SPLITS: tuple[str, ...] = ("train", "val", "test")

# One row per face (or per image without one, or per unreadable file) in every inference table:
# `deepfer predict`, the Kedro inference pipeline and the served model. ``time``: seconds into a
# video (from its frame rate), or since a camera's first frame; empty for photos.
ROW_COLUMNS: list[str] = ["file", "frame", "time", "face", "status", "x", "y", "w", "h", "emotion", "confidence",
                          *PROBABILITY_COLUMNS, "message"]


class Status:
    """The ``status`` of an inference row."""

    OK = "ok"
    FACE_TOO_SMALL = "face_too_small"
    NO_FACE = "no_face"
    UNREADABLE = "unreadable"
