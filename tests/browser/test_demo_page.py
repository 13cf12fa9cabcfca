"""The live demo page of `deepfer serve`, in Chromium: a real photo uploaded, and a fake camera
fed with a video of a real face."""

import os
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest

from tests.browser.conftest import free_port, screenshot, wait_for_http
from tests.conftest import stop_group

pytestmark = pytest.mark.slow
EMOTIONS = ("angry", "disgust", "fear", "happy", "neutral", "sad", "surprise")


@pytest.fixture(scope="module")
def demo_server():
    port = free_port()
    process = subprocess.Popen([str(Path(sys.executable).parent / "deepfer"), "serve-demo", "--port", str(port)],
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                               env={**os.environ, "KEDRO_DISABLE_TELEMETRY": "true"}, start_new_session=True)
    wait_for_http(f"http://127.0.0.1:{port}/ping", process)
    yield f"http://127.0.0.1:{port}/"
    stop_group(process)


def test_an_uploaded_photo_shows_each_face_boxed_with_its_emotion(demo_server, browser_factory, astronaut_rgb,
                                                                  tmp_path):
    photo = tmp_path / "astronaut.jpg"
    cv2.imwrite(str(photo), cv2.cvtColor(astronaut_rgb, cv2.COLOR_RGB2BGR))
    page = browser_factory().new_page()
    page.goto(demo_server)
    [card] = upload_one_face(page, photo)
    assert len(card.query_selector_all(".bar")) == 7
    screenshot(page, tmp_path, "demo_photo")


def upload_one_face(page, photo: Path) -> list:
    """Uploads ``photo``, whose one face must come back as one card with an emotion."""
    page.set_input_files("#photo", str(photo))
    page.wait_for_selector(".face", timeout=60_000)
    cards = page.query_selector_all(".face")
    assert len(cards) == 1 and cards[0].get_attribute("data-emotion") in EMOTIONS
    assert page.inner_text("#status").startswith("1 face(s)")
    return cards


def test_an_iphone_photo_and_a_broken_file_get_the_servers_answer(demo_server, browser_factory, astronaut_rgb,
                                                                   tmp_path):
    """Chromium cannot show HEIC, the iPhone's photo format, nor a broken JPEG: the page sends them
    anyway and shows what the server says (the face and its emotion; the file named as unreadable)."""
    import pillow_heif
    from PIL import Image

    pillow_heif.register_heif_opener()
    heic, broken = tmp_path / "IMG_0001.HEIC", tmp_path / "broken.jpg"
    Image.fromarray(astronaut_rgb).save(heic, "HEIF")
    broken.write_bytes(b"\xff\xd8\xff\xe0 not a whole JPEG")
    page = browser_factory().new_page()
    page.goto(demo_server)
    upload_one_face(page, heic)
    assert "this browser cannot show the photo" in page.inner_text("#status")
    screenshot(page, tmp_path, "demo_heic")
    page.set_input_files("#photo", str(broken))
    page.wait_for_function("document.getElementById('status').textContent.includes('broken.jpg')", timeout=60_000)
    assert page.inner_text("#status").startswith("0 face(s); broken.jpg: not a readable image")
    assert page.query_selector_all(".face") == []


def real_face_video(path: Path, frames: int = 30) -> Path:
    """A 640x480 Y4M clip of a real face (scikit-image's astronaut) drifting sideways."""
    face = cv2.resize(cv2.cvtColor(__import__("skimage.data", fromlist=["data"]).astronaut(), cv2.COLOR_RGB2BGR),
                      (400, 400))
    with path.open("wb") as out:
        out.write(b"YUV4MPEG2 W640 H480 F10:1 Ip A1:1 C420jpeg\n")
        for i in range(frames):
            canvas = np.zeros((480, 640, 3), np.uint8)
            x = 40 + (i % 20) * 8
            canvas[40:440, x:x + 400] = face
            out.write(b"FRAME\n" + cv2.cvtColor(canvas, cv2.COLOR_BGR2YUV_I420).tobytes())
    return path


def test_the_camera_shows_a_live_emotion_and_its_frame_rate(demo_server, browser_factory, tmp_path):
    video = real_face_video(tmp_path / "face.y4m")
    browser = browser_factory("--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
                              f"--use-file-for-fake-video-capture={video}")
    page = browser.new_page()
    posted = []
    page.on("request", lambda request: request.method == "POST" and posted.append(request.post_data_json))
    page.goto(demo_server)
    page.click("#camera")
    page.wait_for_selector(".face", timeout=60_000)
    page.wait_for_timeout(5_000)  # let the frame rate settle
    fps = float(page.get_attribute("#fps", "data-fps"))
    assert fps > 0 and page.query_selector(".face").get_attribute("data-emotion") in EMOTIONS
    card = page.query_selector(".face")
    assert card.get_attribute("data-face").isdigit()
    assert card.inner_text().startswith(f"#{card.get_attribute('data-face')} ")  # the number the server follows
    # the face's probabilities over its last frames: one stacked column per frame, filling the strip's height
    assert int(card.query_selector("canvas.timeline").get_attribute("data-frames")) >= 2
    newest = page.evaluate("""() => {
        const strip = document.querySelector('.face canvas.timeline');
        const column = strip.getContext('2d').getImageData(strip.width - 1, 0, 1, strip.height).data;
        let painted = 0;
        for (let i = 3; i < column.length; i += 4) painted += column[i] > 0;
        return painted / strip.height; }""")
    assert newest > 0.9
    assert page.is_visible("#legend")
    # every frame of one camera session is posted with the same stream id, so the server smooths its faces
    streams = {body["dataframe_split"]["data"][0][2] for body in posted}
    assert len(posted) >= 2 and len(streams) == 1 and posted[0]["dataframe_split"]["columns"][2] == "stream"
    screenshot(page, tmp_path, "demo_camera")
    print(f"demo page with the shipped model: {fps:.1f} frames/s")
    page.click("#stop")


def test_an_uploaded_video_is_followed_frame_by_frame_to_its_end(demo_server, browser_factory, astronaut_rgb, tmp_path):
    clip = tmp_path / "astronaut.webm"  # VP8: what Chromium plays and OpenCV writes
    writer = cv2.VideoWriter(str(clip), cv2.VideoWriter_fourcc(*"VP80"), 10, (640, 480))
    frame = cv2.resize(cv2.cvtColor(astronaut_rgb, cv2.COLOR_RGB2BGR), (640, 480))
    for shift in range(20):
        writer.write(np.roll(frame, 4 * shift, axis=1))
    writer.release()
    page = browser_factory().new_page()
    posted = []
    page.on("request", lambda request: request.method == "POST" and posted.append(request.post_data_json))
    page.goto(demo_server)
    page.set_input_files("#photo", str(clip))
    page.wait_for_selector("#status[data-ended]", timeout=60_000)
    assert page.get_attribute("#status", "data-ended") == "astronaut.webm"
    assert "astronaut.webm ended" in page.inner_text("#status") and page.is_disabled("#stop")
    card = page.query_selector(".face")
    assert card.get_attribute("data-emotion") in EMOTIONS and card.inner_text().startswith("#")
    assert int(card.query_selector("canvas.timeline").get_attribute("data-frames")) >= 2
    rows = [body["dataframe_split"]["data"][0] for body in posted]
    assert len(rows) >= 2 and {row[1] for row in rows} == {"astronaut.webm"} and len({row[2] for row in rows}) == 1
    assert len(rows) <= 20  # each of the 20 frames at most once, however fast the server answers
    with page.expect_download() as download:  # the session's table, as `deepfer predict` writes one
        page.click("#download")
    table = pd.read_csv(download.value.path())
    assert len(table) == len(rows) and (table["file"] == "astronaut.webm").all() and (table["status"] == "ok").all()
    assert table["frame"].tolist() == list(range(len(rows))) and table["time"].is_monotonic_increasing
    assert table["time"].iloc[-1] <= 2.0 and table[[f"p_{e}" for e in EMOTIONS]].sum(axis=1).round(4).eq(1).all()
    screenshot(page, tmp_path, "demo_video")
