"""Video streams by URL (IP cameras, media servers), served here from 127.0.0.1."""

import contextlib
import http.server
import re
import threading
import time

import cv2
import numpy as np
import pandas as pd
import pytest

import deepfer_kedro.inference.cli as cli


@pytest.fixture
def served_folder(tmp_path):
    """``tmp_path`` over HTTP on 127.0.0.1, as a media server or an IP camera gives a stream."""
    import functools
    import http.server
    import threading

    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(tmp_path))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def test_a_video_stream_url_is_read_like_a_video(tiny_model_file, clip, served_folder, tmp_path):
    url = f"{served_folder}/{clip.name}"
    out = tmp_path / "rows.csv"
    assert cli.main(["predict", url, "--model", str(tiny_model_file), "-o", str(out), "--annotate",
                     str(tmp_path / "ann"), "--smooth", "0"]) == 0
    rows = pd.read_csv(out)
    assert rows["frame"].tolist() == list(range(8)) and (rows["file"] == url).all()
    assert rows["time"].tolist() == pytest.approx(rows["frame"] / 10)
    port = served_folder.rsplit(":", 1)[1]
    for name in (f"127_0_0_1_{port}_clip_avi_annotated.mp4", f"127_0_0_1_{port}_clip_avi_timeline.png"):
        assert (tmp_path / "ann" / name).exists()


def test_an_unreachable_stream_is_named_without_its_password(tiny_model_file, tmp_path, capfd):
    import socket

    with socket.socket() as closed:  # a port nothing listens on
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    url = f"rtsp://admin:s3cret@127.0.0.1:{port}/live"
    out = tmp_path / "rows.csv"
    assert cli.main(["predict", url, "--model", str(tiny_model_file), "-o", str(out)]) == 1
    [row] = pd.read_csv(out).to_dict("records")
    assert row["status"] == "unreadable" and row["file"] == f"rtsp://admin:***@127.0.0.1:{port}/live"
    assert "cannot be opened" in row["message"] and "unreachable" in row["message"]
    printed = capfd.readouterr()
    assert "s3cret" not in out.read_text() + printed.err + printed.out


@contextlib.contextmanager
def mjpeg_camera(*connections: list[np.ndarray], fps: float | None = None):
    """An MJPEG stream over HTTP, as many IP cameras give one (no frame count, no end of its own): the
    n-th request gets the frames (BGR) of the n-th of ``connections``, ``fps`` a second (default: all
    at once), then the connection drops; requests beyond them get a 503 (a camera gone for good).
    Yields its URL."""
    encoded = [[cv2.imencode(".jpg", frame)[1].tobytes() for frame in frames] for frames in connections]

    class Camera(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            if not encoded:
                self.send_error(503)
                return
            jpegs = encoded.pop(0)
            self.send_response(200)
            self.send_header("Content-Type", "multipart/x-mixed-replace; boundary=frame")
            self.end_headers()
            for jpeg in jpegs:
                if fps:
                    time.sleep(1 / fps)
                self.wfile.write(b"--frame\r\nContent-Type: image/jpeg\r\nContent-Length: %d\r\n\r\n%s\r\n"
                                 % (len(jpeg), jpeg))

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Camera)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/video"
    finally:
        server.shutdown()


def test_a_live_stream_that_ends_keeps_its_rows_and_says_so(tiny_model_file, astronaut_rgb, tmp_path):
    frame = cv2.resize(cv2.cvtColor(astronaut_rgb, cv2.COLOR_RGB2BGR), (640, 480))
    out = tmp_path / "rows.csv"
    with mjpeg_camera([frame] * 6) as url:
        assert cli.main(["predict", url, "--model", str(tiny_model_file), "-o", str(out), "--reconnect", "0",
                         "--all-frames"]) == 1  # (no frame skipped however slow this machine is)
    rows = pd.read_csv(out)
    assert (rows["status"].iloc[:6] == "ok").all() and rows["frame"].iloc[:6].tolist() == list(range(6))
    assert rows["time"].iloc[0] == 0 and rows["time"].iloc[:6].is_monotonic_increasing  # by the clock
    last = rows.iloc[-1]
    assert last["status"] == "unreadable" and "stream stopped delivering frames after 6" in last["message"]
    assert "reopened" not in last["message"]


def test_inputs_after_a_live_stream_wait_for_its_end_and_are_warned_of(tiny_model_file, astronaut_rgb, clip,
                                                                       tmp_path, capfd):
    """A live stream has no end of its own, so a file given after it is read only when it ends: said at
    once, not discovered hours later; a video file before others is not warned of."""
    frame = cv2.resize(cv2.cvtColor(astronaut_rgb, cv2.COLOR_RGB2BGR), (640, 480))
    out = tmp_path / "rows.csv"
    with mjpeg_camera([frame] * 3) as url:
        assert cli.main(["predict", str(clip), url, str(clip), "--model", str(tiny_model_file), "-o", str(out),
                         "--reconnect", "0"]) == 1
    said = capfd.readouterr().err
    assert f"{url} is live: the 1 input(s) after it are read only when it ends" in said
    assert said.count("is live") == 1  # the first clip is a file
    files = pd.read_csv(out)["file"]
    assert files[files != files.shift()].tolist() == [str(clip), url, str(clip)]  # each read, in turn


def test_a_live_stream_that_drops_is_reopened_and_goes_on(tiny_model_file, astronaut_rgb, tmp_path):
    """An IP camera that drops the connection once (a reboot, a network blip) and then comes back: the
    run goes on from the next frame number on the same clock, the face gets a new number; when the
    camera stays away, the run ends after ``--reconnect`` seconds with a row saying so."""
    frame = cv2.resize(cv2.cvtColor(astronaut_rgb, cv2.COLOR_RGB2BGR), (640, 480))
    smaller = np.ascontiguousarray(frame[:360, :480])  # rebooted at another resolution, the face where it was
    out, summary = tmp_path / "rows.csv", tmp_path / "faces.csv"
    with mjpeg_camera([frame] * 6, [smaller] * 6) as url:
        started = time.monotonic()
        assert cli.main(["predict", url, "--model", str(tiny_model_file), "-o", str(out), "--reconnect", "4",
                         "--smooth", "0", "--summary", str(summary), "--annotate", str(tmp_path / "ann")]) == 1
        took = time.monotonic() - started
    rows = pd.read_csv(out)
    faces = rows[rows["status"] == "ok"]
    # each connection's frames come at once: those the classifier had no time for are skipped, never
    # the newest before the gap
    frames = faces["frame"].tolist()
    assert frames == sorted(frames) and set(frames) <= set(range(12)) and {5, 11} <= set(frames)
    assert (faces["face"] == (faces["frame"] >= 6).astype(int)).all()  # after the gap, who is there is not known
    assert faces["time"].is_monotonic_increasing
    before, after = faces[faces["frame"] <= 5]["time"].max(), faces[faces["frame"] >= 6]["time"].min()
    assert after - before >= 0.9  # the wait before it was reopened
    last = rows.iloc[-1]
    assert last["status"] == "unreadable" and last["frame"] == 12
    assert "stopped delivering frames after 12" in last["message"]
    assert "could not be reopened within 4 s" in last["message"]
    assert 4 <= took < 30  # tried for the 4 s asked, not for ever
    assert pd.read_csv(summary)["frames"].tolist() == faces["face"].value_counts().sort_index().tolist()
    annotated = cv2.VideoCapture(str(next((tmp_path / "ann").glob("*_annotated.mp4"))))
    # the frames after the reopening are in the video too, at its size, each standing in for those skipped before it
    assert annotated.get(cv2.CAP_PROP_FRAME_COUNT) == frames[-1] - frames[0] + 1
    assert annotated.get(cv2.CAP_PROP_FRAME_WIDTH) == 640


def test_a_camera_faster_than_classifying_is_followed_without_falling_behind(tiny_model_file, astronaut_rgb,
                                                                             tmp_path, monkeypatch, capfd):
    """A camera sending 25 frames/s to a classifier that takes over 0.1 s a frame: by default the newest
    frame is classified each time and the ones there was no time for are skipped, so the results keep
    up; ``--all-frames`` classifies every frame, falling behind."""
    from deepfer_kedro.inference.predict import EmotionPredictor

    classify = EmotionPredictor.predict_frame

    def slowly(self, image, boxes=None):
        time.sleep(0.1)
        return classify(self, image, boxes)

    monkeypatch.setattr(EmotionPredictor, "predict_frame", slowly)
    frame = cv2.resize(cv2.cvtColor(astronaut_rgb, cv2.COLOR_RGB2BGR), (640, 480))
    classified = {}
    for mode in ("newest", "--all-frames"):
        out, annotated = tmp_path / "rows.csv", tmp_path / mode
        with mjpeg_camera([frame] * 20, fps=25) as url:
            assert cli.main(["predict", url, "--model", str(tiny_model_file), "-o", str(out), "--reconnect", "0",
                             "--annotate", str(annotated), *([mode] if mode.startswith("--") else [])]) == 1
        rows = pd.read_csv(out)
        assert rows["time"].dropna().is_monotonic_increasing
        classified[mode] = rows.loc[rows["status"] == "ok", "frame"].tolist()
        assert rows["status"].iloc[-1] == "unreadable" and "after 20" in rows["message"].iloc[-1]  # it ended
        # the annotated video plays in the camera's time: a frame for each the camera sent from the first classified
        video = cv2.VideoCapture(str(next(annotated.glob("*_annotated.mp4"))))
        assert video.get(cv2.CAP_PROP_FRAME_COUNT) == 20 - classified[mode][0]
    assert classified["--all-frames"] == list(range(20))
    assert 2 <= len(classified["newest"]) < 15 and classified["newest"][-1] == 19  # the last frame, not 2 s late
    assert classified["newest"] == sorted(classified["newest"])
    said = capfd.readouterr().err
    assert f"{20 - len(classified['newest'])} of 20 frames were skipped to keep up" in said
    assert re.search(r"first frame at 20\d\d-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+00:00 \(time 0\)", said)


def test_a_camera_run_stopped_by_sigterm_keeps_its_rows_and_summary(tiny_model_file, astronaut_rgb, tmp_path):
    """``systemctl stop`` and ``docker stop`` send SIGTERM: the run ends as with Ctrl-C (exit 143), its
    rows, summary and timeline written, not killed half-way."""
    import signal
    import subprocess
    import sys
    from pathlib import Path

    frame = cv2.resize(cv2.cvtColor(astronaut_rgb, cv2.COLOR_RGB2BGR), (640, 480))
    out, summary, annotated = tmp_path / "rows.csv", tmp_path / "faces.csv", tmp_path / "ann"
    with mjpeg_camera([frame] * 3000, fps=10) as url:  # 5 minutes: ended only by the signal
        run = subprocess.Popen([str(Path(sys.executable).parent / "deepfer"), "predict", url, "--model",
                                str(tiny_model_file), "-o", str(out), "--summary", str(summary),
                                "--annotate", str(annotated)], stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 120
        while (not out.exists() or out.read_text().count("\n") < 4) and time.monotonic() < deadline:
            time.sleep(0.2)  # until a few frames are in
        run.send_signal(signal.SIGTERM)
        _, said = run.communicate(timeout=60)
    assert run.returncode == 143, said
    assert "Stopped by SIGTERM" in said
    rows = pd.read_csv(out)
    assert len(rows) >= 3 and (rows["status"] == "ok").all()
    assert pd.read_csv(summary)["frames"].sum() == len(rows)
    assert len(list(annotated.glob("*_timeline.png"))) == 1


def test_a_stream_that_never_answers_is_given_up(tiny_model_file, tmp_path, monkeypatch):
    """A camera that takes the connection and sends nothing (hung, or behind a broken proxy) is given
    up after DeepFER's open timeout (1 s here; OpenCV's own is 30 s)."""
    import socket
    import threading

    import deepfer_kedro.inference.predict as predict

    monkeypatch.setattr(predict, "STREAM_TIMEOUT_MS", 1000)
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        out, codes = tmp_path / "rows.csv", []
        run = threading.Thread(target=lambda: codes.append(cli.main(
            ["predict", f"rtsp://127.0.0.1:{silent.getsockname()[1]}/live", "--model", str(tiny_model_file),
             "-o", str(out)])), daemon=True)
        run.start()
        run.join(20)  # OpenCV alone waits 30 s
    assert not run.is_alive() and codes == [1]
    assert "cannot be opened" in pd.read_csv(out)["message"].iloc[0]


def test_video_frames_over_the_pixel_limit_are_refused_before_decoding(tiny_model_file, clip, tmp_path):
    """As for images (``--max-pixels``): a video's frame size is read from its header before a frame is
    decoded (OpenCV then gives every frame at that size)."""
    out = tmp_path / "rows.csv"
    assert cli.main(["predict", str(clip), "--model", str(tiny_model_file), "-o", str(out),
                     "--max-pixels", "300000"]) == 1  # the clip's frames are 640x480: 307,200 pixels
    [row] = pd.read_csv(out).to_dict("records")
    assert row["status"] == "unreadable" and "640x480 frames are over the limit of 300,000 pixels" in row["message"]
    assert cli.main(["predict", str(clip), "--model", str(tiny_model_file), "-o", str(out),
                     "--max-pixels", "307200"]) == 0
