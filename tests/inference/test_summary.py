import io

import numpy as np
import pandas as pd
import pytest
from matplotlib.collections import PolyCollection

import deepfer_kedro.inference.cli as cli
from deepfer_kedro.inference.predict import predict_video
from deepfer_kedro.inference.summary import FaceSummaries
from deepfer_kedro.labels import EMOTIONS, PROBABILITY_COLUMNS

HAPPY, SAD = EMOTIONS.index("happy"), EMOTIONS.index("sad")


def row(file, frame, face, probabilities, status="ok"):
    seconds = None if frame is None else frame / 10
    return {"file": file, "frame": frame, "time": seconds, "face": face, "status": status,
            **dict(zip(PROBABILITY_COLUMNS, probabilities, strict=True))}


def leaning(emotion: int, weight: float) -> np.ndarray:
    probabilities = np.full(7, (1 - weight) / 6)
    probabilities[emotion] = weight
    return probabilities


def test_one_row_per_face_over_its_frames():
    summaries = FaceSummaries()
    # face 0: surely happy in frames 0-2, barely sad in 5-9 (unseen in 3-4); face 1 seen once; a photo
    for frame in [0, 1, 2, 5, 6, 7, 8, 9]:
        summaries.add(row("clip.mp4", frame, 0, leaning(HAPPY, 0.9) if frame < 5 else leaning(SAD, 0.4)))
    summaries.add(row("clip.mp4", 4, 1, leaning(SAD, 0.8)))
    summaries.add(row("clip.mp4", 4, 2, [np.nan] * 7, status="face_too_small"))  # not classified: left out
    summaries.add(row("photo.jpg", None, 0, leaning(SAD, 0.7)))
    table = summaries.table().set_index(["file", "face"])
    assert list(table.index) == [("clip.mp4", 0), ("clip.mp4", 1), ("photo.jpg", 0)]
    first = table.loc[("clip.mp4", 0)]
    assert (first["frames"], first["first_frame"], first["last_frame"]) == (8, 0, 9)
    assert (first["start"], first["end"]) == (0.0, 0.9)
    # sad in most frames, but happy on average: the mean probabilities decide
    assert first["emotion"] == "happy" and first["share"] == 3 / 8 and first["share_sad"] == 5 / 8
    assert first["p_happy"] == pytest.approx((3 * 0.9 + 5 * 0.1) / 8)
    assert table.loc[("clip.mp4", 1), "emotion"] == "sad" and table.loc[("clip.mp4", 1), "frames"] == 1
    photo = table.loc[("photo.jpg", 0)]
    assert photo["emotion"] == "sad" and pd.isna(photo["first_frame"]) and pd.isna(photo["start"])
    assert summaries.videos() == ["clip.mp4"]


def test_the_timeline_has_a_panel_per_face_and_leaves_unseen_frames_blank():
    summaries = FaceSummaries()
    for frame in [0, 1, 2, 6, 7, 8]:  # unseen in frames 3-5
        summaries.add(row("clip.mp4", frame, 0, leaning(HAPPY, 0.9)))
    summaries.add(row("clip.mp4", 4, 1, leaning(SAD, 0.8)))  # one frame only
    for face in range(2, 9):
        summaries.add(row("clip.mp4", 0, face, leaning(SAD, 0.8)))
    figure = summaries.timeline("clip.mp4", max_faces=3)
    axes = figure.axes
    assert len(axes) == 3 and [a.get_title(loc="left")[:7] for a in axes] == ["face #0", "face #1", "face #2"]
    assert "happy (100% of its 6 frames)" in axes[0].get_title(loc="left")
    areas = [c for c in axes[0].collections if isinstance(c, PolyCollection)]
    assert len(areas) == 2 * len(EMOTIONS)  # two stretches, seven emotions stacked in each
    assert max(max(path.vertices[:, 0]) for c in areas for path in c.get_paths()) == pytest.approx(0.8)
    bars = axes[1].patches  # a face seen in one frame is drawn as one stacked bar
    assert len(bars) == len(EMOTIONS) and sum(b.get_height() for b in bars) == pytest.approx(1)


def test_timelines_of_many_videos_are_not_held_by_pyplot(recwarn):
    """A folder of 25 videos: pyplot keeps none of their figures (it warned at 20 that it held them all)."""
    import matplotlib.pyplot as plt

    summaries = FaceSummaries()
    for video in range(25):
        summaries.add(row(f"clip{video}.mp4", 0, 0, leaning(HAPPY, 0.9)))
    figures = [summaries.timeline(video) for video in summaries.videos()]
    assert len(figures) == 25 and plt.get_fignums() == []
    assert not [w for w in recwarn if "More than 20 figures" in str(w.message)]
    figures[0].savefig(io.BytesIO(), format="png")  # still a figure that saves


def test_predict_writes_a_summary_and_a_timeline_of_a_video(tiny_model_file, clip, tmp_path, capsys):
    out, summary = tmp_path / "rows.csv", tmp_path / "faces.csv"
    assert cli.main(["predict", str(clip), "--model", str(tiny_model_file), "-o", str(out), "--summary",
                     str(summary), "--annotate", str(tmp_path / "ann"), "--smooth", "0"]) == 0
    rows = pd.read_csv(out)
    assert rows["time"].tolist() == pytest.approx(rows["frame"] / 10)  # the clip's 10 frames/s
    faces = pd.read_csv(summary)
    assert len(faces) == rows["face"].nunique() and faces["frames"].sum() == (rows["status"] == "ok").sum()
    for _, face in faces.iterrows():
        its = rows[rows["face"] == face["face"]]
        assert face["frames"] == len(its) and face["end"] == its["time"].max()
        assert face["emotion"] == its[PROBABILITY_COLUMNS].mean().idxmax()[2:]
        assert np.allclose(face[PROBABILITY_COLUMNS].to_numpy(float), its[PROBABILITY_COLUMNS].mean(), atol=1e-6)
    assert (tmp_path / "ann" / "clip_timeline.png").stat().st_size > 10_000
    assert "clip.avi frame 8/8" in capsys.readouterr().err  # the progress bar counts a video's frames too


def test_a_camera_stopped_with_ctrl_c_still_gets_its_summary(tiny_model_file, clip, tmp_path, monkeypatch):
    def camera(predictor, source, *args):  # the clip stands in for camera 0, and the user stops it
        yield from (r | {"file": f"camera:{source}"} for r in list(predict_video(predictor, str(clip), *args))[:3])
        raise KeyboardInterrupt

    monkeypatch.setattr(cli, "predict_video", camera)
    summary = tmp_path / "faces.jsonl"
    assert cli.main(["predict", "--camera", "0", "--model", str(tiny_model_file), "-o", str(tmp_path / "rows.csv"),
                     "--summary", str(summary), "--annotate", str(tmp_path / "ann")]) == 130
    assert pd.read_json(summary, lines=True)["frames"].sum() == 3
    assert (tmp_path / "ann" / "camera0_timeline.png").exists()


def test_an_unwritable_summary_stops_before_any_work(tiny_model_file, clip, tmp_path, capsys):
    assert cli.main(["predict", str(clip), "--model", str(tiny_model_file), "-o", str(tmp_path / "rows.csv"),
                     "--summary", str(tmp_path / "missing" / "faces.csv")]) == 2
    assert "Cannot write the summary" in capsys.readouterr().err
    assert (tmp_path / "rows.csv").read_text().count("\n") == 1  # the header only: nothing was classified


def test_a_video_without_times_is_plotted_by_frame():
    summaries = FaceSummaries()
    for frame in range(4):  # a container with neither timestamps nor a frame rate
        summaries.add(row("clip.mp4", frame, 0, leaning(HAPPY, 0.9)) | {"time": None})
    [face] = summaries.table().to_dict("records")
    assert face["frames"] == 4 and face["start"] is None and face["last_frame"] == 3
    [axis] = summaries.timeline("clip.mp4").axes
    assert axis.get_xlabel() == "frame"
