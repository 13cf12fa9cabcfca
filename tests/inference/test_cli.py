import json

import cv2
import numpy as np
import pandas as pd

from deepfer_kedro.inference.cli import main


def test_batch_table_annotations_and_exit_status(tiny_model_file, astronaut_rgb, tmp_path, capsys):
    cv2.imwrite(str(tmp_path / "a.jpg"), cv2.cvtColor(astronaut_rgb, cv2.COLOR_RGB2BGR))
    cv2.imwrite(str(tmp_path / "blank.png"), np.full((64, 64), 90, np.uint8))
    out = tmp_path / "rows.csv"
    code = main(["predict", str(tmp_path / "a.jpg"), str(tmp_path / "blank.png"), "--model", str(tiny_model_file),
                 "-o", str(out), "--annotate", str(tmp_path / "ann"), "--tta"])
    assert code == 0  # a batch with a face-less image still succeeds
    table = pd.read_csv(out)
    assert table["status"].tolist() == ["ok", "no_face"]
    assert abs(table.filter(like="p_").iloc[0].sum() - 1) < 1e-5
    assert (tmp_path / "ann" / "a_annotated.png").exists()
    assert "1 face(s) classified" in capsys.readouterr().err


def test_single_image_without_a_face_is_an_error(tiny_model_file, tmp_path, capsys):
    cv2.imwrite(str(tmp_path / "blank.png"), np.full((64, 64), 90, np.uint8))
    assert main(["predict", str(tmp_path / "blank.png"), "--model", str(tiny_model_file)]) == 1
    assert "No face found in" in capsys.readouterr().err


def test_unreadable_file_is_named_and_the_rest_still_runs(tiny_model_file, astronaut_rgb, tmp_path, capsys):
    cv2.imwrite(str(tmp_path / "a.jpg"), cv2.cvtColor(astronaut_rgb, cv2.COLOR_RGB2BGR))
    (tmp_path / "b.jpg").write_bytes(b"garbage")
    out = tmp_path / "rows.jsonl"
    assert main(["predict", str(tmp_path), "--model", str(tiny_model_file), "-o", str(out)]) == 1
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["status"] for r in rows] == ["ok", "unreadable"]
    assert "b.jpg" in capsys.readouterr().err


def test_missing_model_exits_with_advice(tmp_path, capsys, astronaut_rgb):
    cv2.imwrite(str(tmp_path / "a.jpg"), astronaut_rgb)
    assert main(["predict", str(tmp_path / "a.jpg"), "--model", str(tmp_path / "no.keras")]) == 2
    assert "kedro run" in capsys.readouterr().err


def test_export_without_fer2013_names_where_to_put_it_and_writes_nothing(tiny_model_file, tmp_path, capsys):
    code = main(["export", "--model", str(tiny_model_file), "--out", str(tmp_path / "out"),
                 "--data", str(tmp_path / "no_data")])
    assert code == 2
    assert "no_data" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_export_of_a_model_that_is_not_one(tmp_path, capsys):
    (tmp_path / "junk.keras").write_bytes(b"not a zip")
    assert main(["export", "--model", str(tmp_path / "junk.keras"), "--out", str(tmp_path / "out")]) == 2
    assert "junk.keras: not a Keras model" in capsys.readouterr().err
