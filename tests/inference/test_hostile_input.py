"""What a hostile-but-real user gives `deepfer predict`: each case ends in a clear message or the
right rows, never a traceback, and never loses rows already done. Real files, real subprocesses."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import cloudpickle
import cv2
import numpy as np
import pandas as pd
import pytest
from PIL import Image

from deepfer_kedro.inference.cli import main

BIN = Path(sys.executable).parent


def write_photo(path: Path, astronaut_rgb) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), cv2.cvtColor(astronaut_rgb, cv2.COLOR_RGB2BGR))
    return path


def test_a_pickled_pyfunc_model_is_refused_and_its_code_never_runs(tmp_path, capsys, astronaut_rgb):
    import mlflow.pyfunc

    photo = write_photo(tmp_path / "a.jpg", astronaut_rgb)
    marker = tmp_path / "pwned"

    class Evil(mlflow.pyfunc.PythonModel):
        def __reduce__(self):  # runs on unpickling
            return (os.system, (f"touch {marker}",))

        def predict(self, context, model_input, params=None):
            return model_input

    mlflow.pyfunc.save_model(tmp_path / "evil", python_model=Evil())
    marker.unlink(missing_ok=True)  # saving may already have unpickled it once: only loading counts here
    assert (tmp_path / "evil" / "python_model.pkl").exists()  # the folder holds a pickle that would run
    for spec in (str(tmp_path / "evil"), (tmp_path / "evil").as_uri()):
        assert main(["predict", str(photo), "--model", spec]) == 2
        assert "not a DeepFER served model" in capsys.readouterr().err
    assert not marker.exists()
    cloudpickle.loads((tmp_path / "evil" / "python_model.pkl").read_bytes())  # control: loading it does run it
    assert marker.exists()


def test_a_decompression_bomb_is_an_unreadable_row_and_the_batch_goes_on(tiny_model_file, astronaut_rgb, tmp_path):
    write_photo(tmp_path / "in" / "a.jpg", astronaut_rgb)
    Image.new("L", (20_000, 20_000)).save(tmp_path / "in" / "bomb.png")
    Image.new("RGB", (8064, 6048), (90, 120, 150)).save(tmp_path / "in" / "phone_48mp.jpg")  # an iPhone Pro's 48 MP
    out = tmp_path / "rows.csv"
    assert main(["predict", str(tmp_path / "in"), "--model", str(tiny_model_file), "-o", str(out)]) == 1
    rows = pd.read_csv(out).set_index("file")
    assert rows.loc[str(tmp_path / "in" / "a.jpg"), "status"] == "ok"
    assert rows.loc[str(tmp_path / "in" / "phone_48mp.jpg"), "status"] == "no_face"  # read, not refused
    assert rows.loc[str(tmp_path / "in" / "bomb.png"), "status"] == "unreadable"
    assert "over the limit of 50,000,000 pixels" in rows.loc[str(tmp_path / "in" / "bomb.png"), "message"]


def test_a_mistyped_name_is_named_as_missing_and_the_batch_goes_on(tiny_model_file, astronaut_rgb, tmp_path):
    write_photo(tmp_path / "a.jpg", astronaut_rgb)
    out = tmp_path / "rows.csv"
    missing = [str(tmp_path / name) for name in ("phto.jpg", "clp.mp4", "holiday/")]
    assert main(["predict", *missing, str(tmp_path / "a.jpg"), "--model", str(tiny_model_file), "-o", str(out)]) == 1
    rows = pd.read_csv(out).set_index("file")
    assert rows.loc[str(tmp_path / "a.jpg"), "status"] == "ok"
    for name in missing:
        assert rows.loc[name, "status"] == "unreadable"
        assert rows.loc[name, "message"] == f"{name}: no such file or folder"


def test_an_unwritable_output_fails_before_any_work(tiny_model_file, astronaut_rgb, tmp_path, capsys):
    photo = write_photo(tmp_path / "a.jpg", astronaut_rgb)
    assert main(["predict", str(photo), "--model", str(tiny_model_file), "-o", "/nonexistent/dir/out.csv"]) == 2
    err = capsys.readouterr().err
    assert "Cannot write the output /nonexistent/dir/out.csv" in err and "nothing was run" in err


def test_ctrl_c_keeps_the_rows_already_written(tiny_model_file, astronaut_rgb, tmp_path):
    for i in range(400):
        write_photo(tmp_path / "in" / f"{i:03d}.jpg", astronaut_rgb)
    out = tmp_path / "rows.csv"
    # Ctrl-C as in a terminal, even when the tests run in the background, where SIGINT is ignored and inherited
    process = subprocess.Popen([str(BIN / "deepfer"), "predict", str(tmp_path / "in"), "--model",
                                str(tiny_model_file), "-o", str(out)], stderr=subprocess.PIPE, text=True,
                               preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    deadline = time.monotonic() + 300
    while not (out.exists() and len(out.read_text().splitlines()) >= 4):
        assert process.poll() is None and time.monotonic() < deadline, process.stderr.read()
        time.sleep(0.2)
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=120)
    assert process.returncode == 130 and "Interrupted" in err and "Traceback" not in err
    rows = pd.read_csv(out)
    assert 3 <= len(rows) < 400 and (rows["status"] == "ok").all()


def test_two_inputs_with_the_same_name_get_two_annotated_images(tiny_model_file, astronaut_rgb, tmp_path):
    write_photo(tmp_path / "in" / "happy" / "1.jpg", astronaut_rgb)
    write_photo(tmp_path / "in" / "sad" / "1.jpg", astronaut_rgb[:, ::-1])
    assert main(["predict", str(tmp_path / "in"), "--model", str(tiny_model_file), "--annotate",
                 str(tmp_path / "ann"), "-o", str(tmp_path / "rows.csv")]) == 0
    assert sorted(p.name for p in (tmp_path / "ann").iterdir()) == ["happy_1_annotated.png", "sad_1_annotated.png"]


@pytest.mark.parametrize("option", [["--camera", "-1"], ["--every", "0"], ["--detector-width", "0"],
                                    ["--min-face", "0"], ["--margin", "3"], ["--smooth", "1"],
                                    ["--reconnect", "-1"], ["--reconnect", "nan"], ["--max-fps", "0"],
                                    ["--max-fps", "nan"], ["--max-fps", "inf"], ["--all-frames", "--max-fps", "2"],
                                    ["--workers", "0"]])
def test_bad_options_are_refused_up_front(option, tmp_path):
    done = subprocess.run([str(BIN / "deepfer"), "predict", *option, str(tmp_path)], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert option[0] in done.stderr


def test_a_camera_that_is_not_there_is_named(tiny_model_file, tmp_path):
    done = subprocess.run([str(BIN / "deepfer"), "predict", "--camera", "7", "--model", str(tiny_model_file)],
                          capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert done.returncode == 2 and "camera:7: cannot be opened" in done.stderr and "Traceback" not in done.stderr


@pytest.mark.parametrize("kind", ["png16", "tiff_float", "tiff_int32"])
def test_deep_gray_images_are_scaled_by_their_range_not_clipped(kind, tiny_model_file, astronaut_rgb, tmp_path):
    gray = cv2.cvtColor(astronaut_rgb, cv2.COLOR_RGB2GRAY).astype(np.float64) / 255
    path = tmp_path / ("a.png" if kind == "png16" else "a.tif")
    if kind == "png16":
        cv2.imwrite(str(path), (gray * 65535).astype(np.uint16))
    elif kind == "tiff_float":
        Image.fromarray((gray * 1000).astype(np.float32), mode="F").save(path)
    else:
        Image.fromarray((gray * 4095).astype(np.int32), mode="I").save(path)
    out = tmp_path / "rows.csv"
    assert main(["predict", str(path), "--model", str(tiny_model_file), "-o", str(out)]) == 0
    assert pd.read_csv(out)["status"].tolist() == ["ok"]


def _model(tmp_path: Path, name: str, shape: tuple, classes: int) -> Path:
    import keras

    inputs = keras.Input(shape)
    model = keras.Model(inputs, keras.layers.Dense(classes, activation="softmax")(keras.layers.Flatten()(inputs)))
    model.save(tmp_path / name)
    return tmp_path / name


@pytest.mark.parametrize("case", ["readme", "random_bytes", "three_classes", "rgb_64"])
def test_a_file_that_is_not_an_emotion_model_is_named_with_what_is_wrong(case, astronaut_rgb, tmp_path, capsys):
    photo = write_photo(tmp_path / "a.jpg", astronaut_rgb)
    if case == "readme":
        model, expected = tmp_path / "README.md", "not a Keras model"
        model.write_text("# hello")
    elif case == "random_bytes":
        model, expected = tmp_path / "random.keras", "not a Keras model"
        model.write_bytes(np.random.default_rng(0).bytes(5000))
    elif case == "three_classes":
        model, expected = _model(tmp_path, "three.keras", (48, 48, 1), 3), "gives (3,)"
    else:
        model, expected = _model(tmp_path, "rgb.keras", (64, 64, 3), 7), "takes (64, 64, 3)"
    assert main(["predict", str(photo), "--model", str(model)]) == 2
    err = capsys.readouterr().err
    assert str(model) in err and expected in err


@pytest.mark.real_data
def test_pre_cropped_faces_are_classified_with_no_detect(real_faces, tiny_model_file, tmp_path):
    rows = np.flatnonzero(real_faces.index["usage"].to_numpy() == "PrivateTest")[:60]
    for i in rows:
        cv2.imwrite(str(tmp_path / f"{i}.png"), real_faces.pixels[i])
    cv2.imwrite(str(tmp_path / "z_icon.png"), real_faces.pixels[rows[0]][::4, ::4])  # 12 x 12: too small to tell
    out = tmp_path / "rows.csv"
    assert main(["predict", str(tmp_path), "--model", str(tiny_model_file), "--no-detect", "-o", str(out)]) == 0
    table = pd.read_csv(out)
    faces, icon = table.iloc[:60], table.iloc[60]
    assert len(table) == 61 and (faces["status"] == "ok").all() and (faces["w"] == 48).all()
    assert icon["status"] == "face_too_small" and icon["w"] == 12 and pd.isna(icon["emotion"])


def test_an_over_limit_image_costs_no_memory_in_the_process_that_reads_it(tmp_path):
    """Measured in a fresh process: reading a 12,000 x 12,000 PNG (about 450 KB on disk, 144 MB
    decoded) is refused from its header, so the peak memory is that of reading a small photo."""
    Image.new("L", (12_000, 12_000)).save(tmp_path / "bomb.png")
    Image.new("L", (640, 480)).save(tmp_path / "small.png")
    script = ("import resource, sys\n"
              "from deepfer_kedro.inference.faces import UnreadableImageError, read_image\n"
              "try:\n    read_image(sys.argv[1])\n"
              "except UnreadableImageError as err:\n    print(err, file=sys.stderr)\n"
              "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)\n")
    peaks = {}
    for name in ("small.png", "bomb.png"):
        done = subprocess.run([sys.executable, "-c", script, str(tmp_path / name)], capture_output=True, text=True,
                              timeout=120)
        assert done.returncode == 0, done.stderr
        peaks[name] = int(done.stdout.split()[-1]) / 1024  # MB
    assert "over the limit" in done.stderr
    assert peaks["bomb.png"] - peaks["small.png"] < 30, peaks  # decoding it would cost 144 MB
