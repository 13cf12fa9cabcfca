"""FER2013Dataset: every layout users have, bad input, and the decoded cache."""

import logging
import zipfile

import numpy as np
import pandas as pd
import pytest
from kedro.io.core import DatasetError

from deepfer_kedro import fer2013 as fer
from deepfer_kedro.datasets import FER2013Dataset
from deepfer_kedro.labels import EMOTIONS
from tests.conftest import (
    REAL_ZIP_SHA256,
    face,
    jpeg,
    kaggle_entries,
    write_csv,
    write_folder,
    write_zip,
)

EXPECTED_REAL_COUNTS = {  # ../shared/datasets/README.md
    "Training": [3995, 436, 4097, 7215, 4965, 4830, 3171],
    "PublicTest": [467, 56, 496, 895, 607, 653, 415],
    "PrivateTest": [491, 55, 528, 879, 626, 594, 416],
}


def _counts(faces) -> dict[str, list[int]]:
    table = pd.crosstab(faces.index["usage"], faces.index["emotion"])
    return {usage: table.loc[usage, list(EMOTIONS)].tolist() for usage in table.index}


def test_kaggle_zip_is_read_with_usage_from_file_names(kaggle_zip):
    faces = FER2013Dataset(path=str(kaggle_zip.parent), progress=False).load()
    assert faces.layout == "kaggle"
    assert faces.pixels.shape == (42, 48, 48) and faces.pixels.dtype == np.uint8
    assert _counts(faces) == {u: [2] * 7 for u in ("PrivateTest", "PublicTest", "Training")}
    # pixels stay aligned with their source: JPEG is lossy, so compare loosely
    row = faces.index.index[faces.index["source"] == "train/angry/Training_1.jpg"][0]
    assert np.abs(faces.pixels[row].astype(int) - face(1).astype(int)).mean() < 40


def test_zip_with_a_top_folder_and_mac_junk(tmp_path):
    entries = {f"fer2013/{k}": v for k, v in kaggle_entries(1).items()}
    entries["__MACOSX/fer2013/._x.jpg"] = b"junk"
    faces = FER2013Dataset(path=str(write_zip(tmp_path / "a.zip", entries)), progress=False).load()
    assert len(faces.pixels) == 21


def test_unpacked_kaggle_folder(tmp_path):
    root = write_folder(tmp_path / "raw", kaggle_entries())
    faces = FER2013Dataset(path=str(root), progress=False).load()
    assert faces.layout == "kaggle" and len(faces.pixels) == 42


def test_challenge_csv_maps_its_own_emotion_codes(tmp_path):
    path = write_csv(tmp_path / "fer2013.csv")
    faces = FER2013Dataset(path=str(tmp_path), progress=False).load()
    assert faces.layout == "csv"
    assert _counts(faces) == {u: [2] * 7 for u in ("PrivateTest", "PublicTest", "Training")}
    table = pd.read_csv(path)
    first_sad = table.index[table["emotion"] == 4][0]  # 4 = Sad in the challenge CSV
    assert faces.index.loc[first_sad, "emotion"] == "sad"
    np.testing.assert_array_equal(faces.pixels[first_sad],
                                  np.array(table.loc[first_sad, "pixels"].split(), np.uint8).reshape(48, 48))


def test_images_train_validation_layout(tmp_path):
    entries = {}
    for i, emotion in enumerate(EMOTIONS):
        for j in range(3):
            entries[f"images/train/{emotion}/{j}.jpg"] = jpeg(face(10 * i + j))
        entries[f"images/validation/{emotion}/v.jpg"] = jpeg(face(100 + i))
    write_folder(tmp_path / "raw", entries)
    faces = FER2013Dataset(path=str(tmp_path / "raw"), progress=False).load()
    assert faces.layout == "images"
    assert faces.index["usage"].value_counts().to_dict() == {"train": 21, "validation": 7}


def test_other_image_sizes_and_colour_are_resized_and_reported(tmp_path):
    entries = kaggle_entries(1)
    colour = np.dstack([face(1)] * 3)
    big = np.kron(face(2), np.ones((2, 2), np.uint8))
    entries["train/happy/Training_colour.jpg"] = jpeg(colour)
    entries["train/happy/Training_big.png"] = __import__("cv2").imencode(".png", big)[1].tobytes()
    faces = FER2013Dataset(path=str(write_zip(tmp_path / "a.zip", entries)), progress=False).load()
    assert len(faces.pixels) == 23
    resized = [p for p in faces.problems if p["kind"] == "resized"]
    assert [p["source"] for p in resized] == ["train/happy/Training_big.png"]
    assert "96x96" in resized[0]["detail"]


@pytest.mark.parametrize("corrupt", [b"not an image at all", "truncated", b""])
def test_corrupt_jpeg_is_skipped_with_a_warning_naming_it(tmp_path, caplog, corrupt):
    entries = kaggle_entries(1)
    name = "train/fear/Training_bad.jpg"
    entries[name] = jpeg(face(5))[:300] if corrupt == "truncated" else corrupt
    with caplog.at_level(logging.WARNING):
        faces = FER2013Dataset(path=str(write_zip(tmp_path / "a.zip", entries)), progress=False).load()
    assert len(faces.pixels) == 21 and faces.examined == 22
    assert name not in set(faces.index["source"])
    assert [p["source"] for p in faces.problems if p["kind"] == "undecodable"] == [name]
    assert name in caplog.text


def test_empty_image_file_in_a_folder_is_skipped_and_counted(tmp_path, caplog):
    root = write_folder(tmp_path / "raw", kaggle_entries(1))
    (root / "train" / "happy" / "empty.jpg").write_bytes(b"")
    with caplog.at_level(logging.WARNING):
        faces = FER2013Dataset(path=str(root), progress=False).load()
    assert faces.examined == 22 and len(faces.pixels) == 21
    assert faces.problems[0] == {"source": "train/happy/empty.jpg", "kind": "undecodable",
                                    "detail": "empty file (0 bytes)"}
    assert "train/happy/empty.jpg" in caplog.text


def test_zip_member_with_a_bad_crc_is_skipped_and_named(tmp_path, caplog):
    entries = kaggle_entries(1)
    name = "train/sad/Training_crc.jpg"
    entries[name] = jpeg(face(99))
    path = write_zip(tmp_path / "a.zip", entries)
    data = bytearray(path.read_bytes())
    with zipfile.ZipFile(path) as archive:
        info = archive.getinfo(name)
    start = info.header_offset + 30 + len(info.filename) + len(info.extra)
    data[start + 10] ^= 0xFF  # one flipped byte inside the member: its CRC no longer matches
    path.write_bytes(bytes(data))
    with caplog.at_level(logging.WARNING):
        faces = FER2013Dataset(path=str(path), progress=False).load()
    assert faces.examined == 22 and name not in set(faces.index["source"])
    problem = next(p for p in faces.problems if p["source"] == name)
    assert "cannot be read from the archive" in problem["detail"] and "CRC" in problem["detail"]
    assert name in caplog.text


def test_files_outside_the_split_folders_are_ignored_with_a_warning(tmp_path, caplog):
    entries = kaggle_entries(1) | {"README.txt": b"FER2013", "extras/notes.md": b"x", "extras/face.jpg": jpeg(face(7))}
    with caplog.at_level(logging.WARNING):
        faces = FER2013Dataset(path=str(write_zip(tmp_path / "a.zip", entries)), progress=False).load()
    assert len(faces.pixels) == 21
    assert "README.txt" in caplog.text and "extras/face.jpg" in caplog.text


def test_archive_unzipped_beside_itself_is_two_sources(tmp_path, kaggle_zip):
    write_folder(tmp_path, kaggle_entries(1))  # kaggle_zip is tmp_path/fer2013.zip
    with pytest.raises(DatasetError, match=r"Several FER2013 sources .*unpacked kaggle folders and \['fer2013.zip'\]"):
        FER2013Dataset(path=str(tmp_path), progress=False).load()


def test_dangling_link_says_the_link_is_broken(tmp_path):
    raw = tmp_path / "raw"
    raw.mkdir()
    (raw / "fer2013.zip").symlink_to(tmp_path / "gone.zip")
    with pytest.raises(DatasetError, match=r"fer2013.zip'\] are broken"):
        FER2013Dataset(path=str(raw), progress=False).load()
    with pytest.raises(DatasetError, match="the link is broken"):
        FER2013Dataset(path=str(raw / "fer2013.zip"), progress=False).load()


def test_unknown_emotion_folder_names_it(tmp_path):
    entries = kaggle_entries(1)
    entries["train/happpy/Training_9.jpg"] = jpeg(face(9))
    with pytest.raises(DatasetError, match=r"train/happpy.*unknown emotion folder 'happpy'.*angry"):
        FER2013Dataset(path=str(write_zip(tmp_path / "a.zip", entries)), progress=False).load()


def test_test_file_without_usage_prefix_is_an_error(tmp_path):
    entries = kaggle_entries(1)
    entries["test/sad/im42.jpg"] = jpeg(face(42))
    with pytest.raises(DatasetError, match="test/sad/im42.jpg.*PublicTest"):
        FER2013Dataset(path=str(write_zip(tmp_path / "a.zip", entries)), progress=False).load()


def test_csv_row_with_wrong_pixel_count_names_the_row(tmp_path):
    path = write_csv(tmp_path / "fer2013.csv")
    table = pd.read_csv(path)
    table.loc[3, "pixels"] = "1 2 3"
    table.to_csv(path, index=False)
    with pytest.raises(DatasetError, match=r"fer2013.csv row 4 \(line 5\): 3 pixel values, expected 2304"):
        FER2013Dataset(path=str(path), progress=False).load()


def test_csv_unknown_usage_names_row_and_value(tmp_path):
    path = write_csv(tmp_path / "fer2013.csv")
    table = pd.read_csv(path)
    table.loc[0, "Usage"] = "Validation"
    table.to_csv(path, index=False)
    with pytest.raises(DatasetError, match=r"row 1 \(line 2\): unknown Usage 'Validation'"):
        FER2013Dataset(path=str(path), progress=False).load()


def test_csv_missing_column(tmp_path):
    path = tmp_path / "fer2013.csv"
    pd.DataFrame({"emotion": [0], "pixels": ["0 " * 2304]}).to_csv(path, index=False)
    with pytest.raises(DatasetError, match=r"missing column\(s\) \['Usage'\]"):
        FER2013Dataset(path=str(path), progress=False).load()


def test_empty_raw_folder_says_where_to_put_the_data(tmp_path):
    with pytest.raises(DatasetError, match=r"it is empty.*data/01_raw.*kaggle"):
        FER2013Dataset(path=str(tmp_path), progress=False).load()


def test_missing_raw_location(tmp_path):
    with pytest.raises(DatasetError, match=r"does not exist.*fer2013.zip"):
        FER2013Dataset(path=str(tmp_path / "nowhere"), progress=False).load()


def test_unrelated_files_only(tmp_path):
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(DatasetError, match=r"holds \['notes.txt'\]"):
        FER2013Dataset(path=str(tmp_path), progress=False).load()


def test_two_sources_are_ambiguous(tmp_path, kaggle_zip):
    write_csv(tmp_path / "fer2013.csv")
    with pytest.raises(DatasetError, match=r"Several FER2013 sources.*fer2013.csv.*fer2013.zip"):
        FER2013Dataset(path=str(tmp_path), progress=False).load()


def test_zip_without_a_known_layout(tmp_path):
    path = write_zip(tmp_path / "x.zip", {"photos/a.jpg": jpeg(face(1))})
    with pytest.raises(DatasetError, match="no FER2013 layout inside"):
        FER2013Dataset(path=str(path), progress=False).load()


def test_the_dataset_is_read_only(kaggle_zip):
    with pytest.raises(Exception, match="read-only"):
        FER2013Dataset(path=str(kaggle_zip)).save({})


def test_decoded_cache_is_reused_and_keyed_by_content(tmp_path, kaggle_zip, monkeypatch):
    dataset = FER2013Dataset(path=str(kaggle_zip), cache_dir=str(tmp_path / "cache"), progress=False)
    first = dataset.load()
    assert len(list((tmp_path / "cache").glob("*.npz"))) == 1

    def no_decoding(*args, **kwargs):
        raise AssertionError("decoded again although the cache was valid")

    monkeypatch.setattr(fer, "decode_all", no_decoding)
    again = dataset.load()
    np.testing.assert_array_equal(again.pixels, first.pixels)
    pd.testing.assert_frame_equal(again.index, first.index)
    assert again.source_sha256 == first.source_sha256

    # a changed archive is decoded again
    write_zip(kaggle_zip, kaggle_entries(1))
    with pytest.raises(Exception, match="decoded again"):
        dataset.load()


@pytest.mark.real_data
def test_real_archive_counts_match_the_published_table(real_faces):
    assert real_faces.layout == "kaggle"
    assert real_faces.source_sha256 == REAL_ZIP_SHA256
    assert real_faces.pixels.shape == (35887, 48, 48)
    assert _counts(real_faces) == EXPECTED_REAL_COUNTS
    assert real_faces.problems == []


@pytest.mark.real_data
def test_real_archive_first_entries_decode_to_their_jpeg(real_zip, real_faces):
    import cv2

    with zipfile.ZipFile(real_zip) as archive:
        name = next(n for n in archive.namelist() if n.endswith(".jpg"))
        expected = cv2.imdecode(np.frombuffer(archive.read(name), np.uint8), cv2.IMREAD_GRAYSCALE)
    row = real_faces.index.index[real_faces.index["source"] == name][0]
    np.testing.assert_array_equal(real_faces.pixels[row], expected)


def test_a_cold_load_finds_and_hashes_the_archive_once(tmp_path, kaggle_zip, monkeypatch):
    calls = {"find_source": 0, "fingerprint": 0}
    for name in calls:
        original = getattr(fer, name)

        def counted(*args, _name=name, _original=original, **kwargs):
            calls[_name] += 1
            return _original(*args, **kwargs)

        monkeypatch.setattr(fer, name, counted)
        monkeypatch.setattr(f"deepfer_kedro.datasets.fer2013_dataset.{name}", counted)
    faces = FER2013Dataset(path=str(kaggle_zip), cache_dir=str(tmp_path / "cache"), progress=False).load()
    assert calls == {"find_source": 1, "fingerprint": 1} and len(faces.pixels) > 0
