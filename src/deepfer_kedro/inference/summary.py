"""What each face showed: a table with one row per face of each file (over all its frames, for a
video or a camera), and a plot of each video face's emotions over time."""

from __future__ import annotations

from array import array
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from deepfer_kedro.labels import EMOTIONS, PROBABILITY_COLUMNS, Status

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.figure import Figure

SHARE_COLUMNS: list[str] = [f"share_{emotion}" for emotion in EMOTIONS]
SUMMARY_COLUMNS: list[str] = ["file", "face", "frames", "first_frame", "last_frame", "start", "end", "emotion",
                              "share", *SHARE_COLUMNS, *PROBABILITY_COLUMNS]
# one colour per emotion, the same in every plot
EMOTION_COLOURS: dict[str, str] = {"angry": "#d62728", "disgust": "#8c564b", "fear": "#9467bd", "happy": "#ffbf00",
                                   "neutral": "#b0b0b0", "sad": "#1f77b4", "surprise": "#2ca02c"}


@dataclass
class _FaceLog:
    frames: array = field(default_factory=lambda: array("q"))
    times: array = field(default_factory=lambda: array("d"))  # NaN where the frame has no time
    probabilities: array = field(default_factory=lambda: array("f"))  # 7 per frame, flat

    def summary(self) -> dict[str, Any]:
        """The face's row of ``FaceSummaries.table`` (without file and face)."""
        probabilities = np.frombuffer(self.probabilities, np.float32).reshape(-1, len(EMOTIONS))
        frames, times = np.frombuffer(self.frames, np.int64), np.frombuffer(self.times)
        shares = np.bincount(probabilities.argmax(axis=1), minlength=len(EMOTIONS)) / len(probabilities)
        mean = probabilities.mean(axis=0)
        emotion = int(mean.argmax())
        return {"frames": len(probabilities),
                "first_frame": None if frames[0] < 0 else int(frames.min()),
                "last_frame": None if frames[0] < 0 else int(frames.max()),
                "start": None if np.isnan(times).all() else float(np.nanmin(times)),
                "end": None if np.isnan(times).all() else float(np.nanmax(times)),
                "emotion": EMOTIONS[emotion], "share": float(shares[emotion]),
                **dict(zip(SHARE_COLUMNS, shares.tolist(), strict=True)),
                **dict(zip(PROBABILITY_COLUMNS, mean.tolist(), strict=True))}


@dataclass
class FaceSummaries:
    """Collects the classified faces of ``deepfer predict``'s rows as they come; each face keeps only
    its frame numbers, times and probabilities (44 bytes a frame: an hour of one face at 30 frames/s
    is under 5 MB)."""

    faces: dict[tuple[str, int], _FaceLog] = field(default_factory=dict)

    def add(self, row: dict[str, Any]) -> None:
        if row.get("status") != Status.OK:
            return
        log = self.faces.setdefault((row["file"], int(row["face"])), _FaceLog())
        log.frames.append(-1 if row.get("frame") is None else int(row["frame"]))
        log.times.append(np.nan if row.get("time") is None else float(row["time"]))
        log.probabilities.extend(float(row[column]) for column in PROBABILITY_COLUMNS)

    def table(self) -> pd.DataFrame:
        """One row per face of each file: how many frames it was classified in, its first and last
        frame and time, its emotion (the likeliest by its mean probabilities over those frames) and
        the share of frames labelled so, each emotion's share of frames and mean probability."""
        import pandas as pd  # here: `deepfer predict` starts without it

        rows = [{"file": file, "face": face, **log.summary()} for (file, face), log in self.faces.items()]
        return pd.DataFrame(rows, columns=SUMMARY_COLUMNS)

    def videos(self) -> list[str]:
        """The videos and cameras among the files (their rows have frame numbers), in the order they came."""
        return list(dict.fromkeys(file for (file, _), log in self.faces.items() if log.frames[0] >= 0))

    def timeline(self, file: str, max_faces: int = 6) -> Figure:
        """Each face of a video (the ``max_faces`` seen longest) in its own panel: its 7
        probabilities stacked over time, blank where the face was not seen."""
        # not pyplot's: a figure of its own is freed with its last reference, and a folder of more
        # than 20 videos does not make pyplot warn that it holds them all
        from matplotlib.figure import Figure
        from matplotlib.patches import Rectangle

        logs = sorted(((face, log) for (name, face), log in self.faces.items() if name == file),
                      key=lambda item: -len(item[1].frames))[:max_faces]
        logs.sort(key=lambda item: item[0])  # in the order they appeared
        figure = Figure(figsize=(10, 1.0 + 1.5 * len(logs)), layout="constrained")
        axes = figure.subplots(len(logs), 1, sharex=True, squeeze=False)
        colours = [EMOTION_COLOURS[emotion] for emotion in EMOTIONS]
        use_time = all(not np.isnan(np.frombuffer(log.times)).any() for _, log in logs)
        for axis, (face, log) in zip(axes[:, 0], logs, strict=True):
            x = np.frombuffer(log.times) if use_time else np.frombuffer(log.frames, np.int64).astype(float)
            probabilities = np.frombuffer(log.probabilities, np.float32).reshape(-1, len(EMOTIONS))
            step = np.median(np.diff(x)) if len(x) > 1 else 1.0
            for part in np.split(np.arange(len(x)), np.flatnonzero(np.diff(x) > 1.5 * step) + 1):  # unseen: a gap
                if len(part) == 1:  # one frame alone still shows, one step wide
                    alone = probabilities[part[0]]
                    axis.bar(np.full(len(alone), x[part[0]]), alone, step, np.r_[0, np.cumsum(alone)[:-1]],
                             color=colours, align="edge")
                else:
                    axis.stackplot(x[part], probabilities[part].T, colors=colours)
            row = log.summary()
            axis.set_title(f"face #{face}: {row['emotion']} ({row['share']:.0%} of its {row['frames']} frames)",
                           fontsize=10, loc="left")
            axis.set_ylim(0, 1)
            axis.set_ylabel("probability")
        axes[-1, 0].set_xlabel("seconds" if use_time else "frame")
        handles = [Rectangle((0, 0), 1, 1, color=colour) for colour in colours]
        figure.legend(handles, EMOTIONS, loc="outside upper center", ncol=len(EMOTIONS), frameon=False,
                      title=file, title_fontsize=9)
        return figure
