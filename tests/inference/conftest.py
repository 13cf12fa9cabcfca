import cv2
import numpy as np
import pytest


@pytest.fixture
def clip(astronaut_rgb, tmp_path):
    """Eight frames of the astronaut moving right, at 10 frames/s."""
    path = tmp_path / "clip.avi"
    frame = cv2.resize(cv2.cvtColor(astronaut_rgb, cv2.COLOR_RGB2BGR), (640, 480))
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10, (640, 480))
    for shift in range(8):
        writer.write(np.roll(frame, 6 * shift, axis=1))
    writer.release()
    return path
