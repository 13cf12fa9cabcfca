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
def mjpeg_camera(*connections: list[np.ndarray], fps: float | None = None, start_after: float = 0.0):
    """An MJPEG stream over HTTP, as many IP cameras give one (no frame count, no end of its own): the
    n-th request gets the frames (BGR) of the n-th of ``connections``, ``fps`` a second (default: all
    at once), the first ``start_after`` seconds after the request, then the connection drops;
    requests beyond them get a 503 (a camera gone for good). Yields its URL."""
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
            time.sleep(start_after)
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


def test_files_come_first_and_live_streams_are_read_side_by_side(tiny_model_file, astronaut_rgb, clip, tmp_path):
    """Two IP cameras and a file, the file given between them: the file is read first (a live stream
    has no end of its own, so a file after it would wait for ever), then both cameras at once, their
    rows interleaved as they come, their times on one clock, each with its own annotated video,
    timeline and end."""
    frame = cv2.resize(cv2.cvtColor(astronaut_rgb, cv2.COLOR_RGB2BGR), (320, 240))
    out, annotated = tmp_path / "rows.csv", tmp_path / "ann"
    with (mjpeg_camera([frame] * 20, fps=10) as door,
          mjpeg_camera([frame[:, ::-1]] * 20, fps=10, start_after=1.0) as hall):
        assert cli.main(["predict", door, str(clip), hall, "--model", str(tiny_model_file), "-o", str(out),
                         "--annotate", str(annotated), "--reconnect", "0"]) == 1  # (the cameras end)
    rows = pd.read_csv(out)
    files = rows["file"]
    assert files[files != files.shift()].iloc[0] == str(clip) and (files.iloc[:8] == str(clip)).all()
    where = {url: files.index[files == url] for url in (door, hall)}
    # side by side: each camera's rows began before the other's ended
    assert where[door].min() < where[hall].max() and where[hall].min() < where[door].max()
    # one clock: the hall camera's first frame came about a second after the door's, and says so
    assert rows.loc[where[door], "time"].iloc[0] < 0.5 <= 0.8 <= rows.loc[where[hall], "time"].iloc[0]
    for url in (door, hall):
        mine = rows[files == url]
        assert (mine["status"].iloc[:-1] == "ok").all() and len(mine) >= 3
        assert "stopped delivering frames after 20" in mine["message"].iloc[-1]
    assert len(list(annotated.glob("127_0_0_1_*_video_annotated.mp4"))) == 2
    assert len(list(annotated.glob("127_0_0_1_*_video_timeline.png"))) == 2


def test_a_camera_that_cannot_be_opened_leaves_the_others_reading(tiny_model_file, astronaut_rgb, tmp_path):
    import socket

    frame = cv2.resize(cv2.cvtColor(astronaut_rgb, cv2.COLOR_RGB2BGR), (320, 240))
    with socket.socket() as closed:  # a port nothing listens on
        closed.bind(("127.0.0.1", 0))
        gone = f"rtsp://127.0.0.1:{closed.getsockname()[1]}/live"
    out = tmp_path / "rows.csv"
    with mjpeg_camera([frame] * 5, fps=10) as door:
        assert cli.main(["predict", gone, door, "--model", str(tiny_model_file), "-o", str(out), "--reconnect", "0",
                         "--all-frames"]) == 1
    rows = pd.read_csv(out)
    assert rows.loc[rows["file"] == gone, "message"].str.contains("cannot be opened").tolist() == [True]
    assert rows.loc[rows["file"] == door, "status"].tolist() == ["ok"] * 5 + ["unreadable"]


def test_a_stop_while_a_row_is_written_stops_the_cameras_and_keeps_their_rows(tiny_model_file, astronaut_rgb):
    """Ctrl-C may come while ``deepfer predict`` writes a row rather than while it waits for one: it is
    passed on to the cameras' threads, which stop, and the rows they had finished still come out."""
    from deepfer_kedro.inference.cli import _rows_finished_before
    from deepfer_kedro.inference.loading import load_predictor
    from deepfer_kedro.inference.predict import predict_side_by_side

    predictor = load_predictor(str(tiny_model_file), {"stream_reconnect_s": 0})
    frame = cv2.resize(cv2.cvtColor(astronaut_rgb, cv2.COLOR_RGB2BGR), (320, 240))
    with mjpeg_camera([frame] * 600, fps=20) as door, mjpeg_camera([frame] * 600, fps=20) as hall:
        rows = predict_side_by_side(predictor, [door, hall])
        first = [next(rows) for _ in range(4)]
        time.sleep(0.5)  # (rows finish meanwhile)
        rest = list(_rows_finished_before(rows, KeyboardInterrupt()))
        assert not [thread for thread in threading.enumerate() if thread.name.startswith(("rows of", "frames of"))]
    assert len(rest) >= 1 and all(row["status"] == "ok" for row in first + rest)
    assert max(row["frame"] for row in rest) < 100  # stopped, not read to the end (30 s)


def test_cameras_side_by_side_take_turns_at_the_classifier(tiny_model_file, astronaut_rgb, tmp_path, monkeypatch):
    """``--camera 0 --camera 1``: both are read, and their faces are never classified at once (the
    model is shared, and a Keras model is not made for two threads at a time). A camera given twice
    is opened once."""
    from deepfer_kedro.inference.predict import EmotionPredictor

    frame = cv2.resize(cv2.cvtColor(astronaut_rgb, cv2.COLOR_RGB2BGR), (320, 240))

    class Camera:  # no camera on a CI machine: OpenCV's capture is replaced; each sends 6 frames
        def __init__(self, index):
            self.frames = 6

        def isOpened(self):
            return True

        def get(self, prop):
            return 0.0

        def read(self):
            time.sleep(0.01)
            self.frames -= 1
            return (True, frame) if self.frames >= 0 else (False, None)

        def release(self):
            pass

    classify, inside, most = EmotionPredictor.predict_frame, [], []

    def watched(self, image, boxes=None):
        inside.append(1)
        most.append(len(inside))
        time.sleep(0.02)  # long enough for another thread to come in, were it let
        try:
            return classify(self, image, boxes)
        finally:
            inside.pop()

    monkeypatch.setattr("deepfer_kedro.inference.predict.cv2.VideoCapture", Camera)
    monkeypatch.setattr(EmotionPredictor, "predict_frame", watched)
    out = tmp_path / "rows.csv"
    assert cli.main(["predict", "--camera", "0", "--camera", "1", "--camera", "0", "--model", str(tiny_model_file),
                     "-o", str(out), "--reconnect", "0", "--all-frames"]) == 1
    rows = pd.read_csv(out)
    for camera in ("camera:0", "camera:1"):
        assert rows.loc[rows["file"] == camera, "status"].tolist() == ["ok"] * 6 + ["unreadable"]
    assert len(most) == 12 and max(most) == 1


def test_turn_taking_hands_the_lock_over_in_order():
    """Two threads that each take the lock again as soon as they let it go alternate (with a plain
    ``threading.Lock`` one of them took it again at once 34-46 times in 100 here)."""
    from deepfer_kedro.inference.predict import TurnTaking

    turns, order = TurnTaking(), []
    ready = threading.Barrier(2)

    def worker(name):
        ready.wait()
        for _ in range(50):
            with turns:
                order.append(name)
                time.sleep(0.002)  # work that lets go of the GIL, as classifying does

    threads = [threading.Thread(target=worker, args=(name,)) for name in "ab"]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    repeats = sum(first == second for first, second in zip(order, order[1:], strict=False))
    assert len(order) == 100 and repeats <= 2  # (where one began before the other came, and ended after)


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


def test_max_fps_spaces_the_frames_classified(tiny_model_file, astronaut_rgb, tmp_path, capfd):
    """``--max-fps 5`` on a camera sending 25 frames/s: at most 5 frames a second are classified, each
    the newest when its time comes; the others are skipped and counted."""
    frame = cv2.resize(cv2.cvtColor(astronaut_rgb, cv2.COLOR_RGB2BGR), (320, 240))
    out = tmp_path / "rows.csv"
    with mjpeg_camera([frame] * 40, fps=25) as url:
        assert cli.main(["predict", url, "--model", str(tiny_model_file), "-o", str(out), "--reconnect", "0",
                         "--max-fps", "5"]) == 1  # (the camera ends)
    rows = pd.read_csv(out)
    classified = rows[rows["status"] == "ok"]
    assert 3 <= len(classified) <= 12  # 1.6 s of frames
    assert classified["time"].diff().dropna().min() >= 0.15  # 0.2 s apart, less a camera frame's 0.04
    assert "stopped delivering frames after 40" in rows["message"].iloc[-1]
    assert f"{40 - len(classified)} of 40 frames were skipped (at most 5 a second" in capfd.readouterr().err


@pytest.mark.parametrize("cameras", [1, 2])
def test_a_camera_run_stopped_by_sigterm_keeps_its_rows_and_summary(tiny_model_file, astronaut_rgb, tmp_path,
                                                                    cameras):
    """``systemctl stop`` and ``docker stop`` send SIGTERM: the run ends as with Ctrl-C (exit 143), its
    rows, summary, timelines and annotated videos written, not killed half-way; with two cameras read
    side by side, both are stopped."""
    import signal
    import subprocess
    import sys
    from pathlib import Path

    frame = cv2.resize(cv2.cvtColor(astronaut_rgb, cv2.COLOR_RGB2BGR), (640, 480))
    out, summary, annotated = tmp_path / "rows.csv", tmp_path / "faces.csv", tmp_path / "ann"
    with contextlib.ExitStack() as stack:
        # 5 minutes: ended only by the signal
        urls = [stack.enter_context(mjpeg_camera([frame] * 3000, fps=10)) for _ in range(cameras)]
        run = subprocess.Popen([str(Path(sys.executable).parent / "deepfer"), "predict", *urls, "--model",
                                str(tiny_model_file), "-o", str(out), "--summary", str(summary),
                                "--annotate", str(annotated)], stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and not (out.exists() and out.read_text().count("\n") >= 6
                                                   and all(url in out.read_text() for url in urls)):
            time.sleep(0.2)  # until a few frames of each are in
        run.send_signal(signal.SIGTERM)
        _, said = run.communicate(timeout=60)
    assert run.returncode == 143, said
    assert "Stopped by SIGTERM" in said
    rows = pd.read_csv(out)
    assert len(rows) >= 5 and (rows["status"] == "ok").all()
    assert sorted(set(rows["file"])) == sorted(urls)
    assert pd.read_csv(summary)["frames"].sum() == len(rows)
    assert len(list(annotated.glob("*_timeline.png"))) == cameras
    for video in annotated.glob("*_annotated.mp4"):  # finished: it opens and has its frames
        assert cv2.VideoCapture(str(video)).get(cv2.CAP_PROP_FRAME_COUNT) >= 1
    assert len(list(annotated.glob("*_annotated.mp4"))) == cameras


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
