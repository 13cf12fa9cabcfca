import io

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from PIL import Image

from deepfer_kedro.fer2013 import FER2013Faces
from deepfer_kedro.labels import EMOTIONS
from deepfer_kedro.pipelines.data_processing.nodes import (
    build_image_index,
    build_quality_report,
    extract_pixels,
    find_near_duplicates,
    plot_near_duplicates,
)


def _faces(usages, emotions, pixels, layout="kaggle", problems=()):
    index = pd.DataFrame({"source": [f"img{i}.jpg" for i in range(len(usages))],
                          "emotion": emotions, "usage": usages})
    return FER2013Faces(pixels=pixels, index=index, problems=list(problems), layout=layout, location="x",
                        source_sha256="abc", examined=len(usages) + len(problems))


def test_official_usages_become_train_val_test():
    faces = _faces(["Training", "PublicTest", "PrivateTest"], ["angry", "sad", "happy"],
                   np.zeros((3, 48, 48), np.uint8))
    index = build_image_index(faces, val_fraction=0.1, seed=0)
    assert index["split"].tolist() == ["train", "val", "test"]
    assert index["label"].tolist() == [EMOTIONS.index("angry"), EMOTIONS.index("sad"), EMOTIONS.index("happy")]


def test_images_layout_val_is_a_stratified_seeded_share_of_train():
    emotions = [e for e in EMOTIONS for _ in range(20)] + list(EMOTIONS)
    usages = ["train"] * 140 + ["validation"] * 7
    faces = _faces(usages, emotions, np.zeros((147, 48, 48), np.uint8), layout="images")
    index = build_image_index(faces, val_fraction=0.2, seed=3)
    assert (index.loc[index["usage"] == "validation", "split"] == "test").all()
    val = index[index["split"] == "val"]
    assert len(val) == 28 and val["emotion"].value_counts().eq(4).all()
    assert build_image_index(faces, 0.2, 3)["split"].equals(index["split"])  # seeded
    assert not build_image_index(faces, 0.2, 4)["split"].equals(index["split"])


def test_extract_pixels_keeps_the_arrays():
    pixels = np.ones((2, 48, 48), np.uint8)
    assert extract_pixels(_faces(["Training"] * 2, ["sad"] * 2, pixels)) is pixels


def test_quality_report_finds_constant_images_and_duplicates_within_and_across_splits():
    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 256, (7, 48, 48), dtype=np.uint8)
    pixels[1] = pixels[0]            # train duplicate of train
    pixels[4] = pixels[2]            # test copy of a train image: leakage
    pixels[5] = pixels[3]            # val copy of a train image
    pixels[6] = 0                    # blank
    usages = ["Training", "Training", "Training", "Training", "PrivateTest", "PublicTest", "Training"]
    faces = _faces(usages, ["sad"] * 7, pixels,
                   problems=[{"source": "bad.jpg", "kind": "undecodable", "detail": "truncated"}])
    report = build_quality_report(faces, build_image_index(faces, 0.1, 0))
    assert report["images_examined"] == 8 and report["images_kept"] == 7
    assert report["undecodable"][0]["source"] == "bad.jpg"
    assert report["constant_images"]["count"] == 1
    assert report["constant_images"]["images"][0] == {"source": "img6.jpg", "split": "train", "value": 0}
    dup = report["duplicates"]
    assert dup["groups"] == 3
    assert dup["extra_copies_within_split"] == {"train": 1, "val": 0, "test": 0}
    assert dup["leakage_train_test"] == [["img2.jpg", "img4.jpg"]]
    assert dup["leakage_train_val"] == [["img3.jpg", "img5.jpg"]]
    assert dup["groups_across_splits"] == {"train-test": 1, "train-val": 1}


@pytest.mark.real_data
def test_real_archive_quality_report_lists_train_test_leakage(real_faces):
    index = build_image_index(real_faces, 0.1, 0)
    report = build_quality_report(real_faces, index)
    assert report["images_per_split"] == {"train": 28709, "val": 3589, "test": 3589}
    leaks = report["duplicates"]["leakage_train_test"]
    assert leaks, "FER2013 is known to hold exact train/test duplicates"
    split_of = dict(zip(index["source"], index["split"], strict=True))
    by_source = {s: i for i, s in enumerate(index["source"])}
    for group in leaks[:20]:
        assert {"train", "test"} <= {split_of[s] for s in group}
        first = real_faces.pixels[by_source[group[0]]]
        assert all(np.array_equal(first, real_faces.pixels[by_source[s]]) for s in group)


def _relit_reencoded(face: np.ndarray) -> np.ndarray:
    """The same photo as another copy of FER2013 might hold it: 1.2 times the contrast, 15 grey levels
    brighter, saved again as JPEG."""
    relit = np.clip((face.astype(np.float32) - 128) * 1.2 + 143, 0, 255).astype(np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(relit).save(buffer, "JPEG", quality=80)
    return np.asarray(Image.open(buffer))


@pytest.mark.real_data
def test_near_duplicates_find_a_relit_reencoded_copy_of_a_train_face_and_nothing_else(real_faces):
    train = real_faces.pixels[real_faces.index["usage"].to_numpy() == "Training"][:400]
    others = real_faces.pixels[real_faces.index["usage"].to_numpy() == "PrivateTest"][:40]
    pixels = np.concatenate([train, [_relit_reencoded(train[7])], others])
    usages = ["Training"] * len(train) + ["PrivateTest"] * (1 + len(others))
    faces = _faces(usages, ["sad"] * len(usages), pixels)
    index = build_image_index(faces, 0.1, 0)
    near = find_near_duplicates(pixels, index, max_distance=6)
    copy, face_7 = f"img{len(train)}.jpg", "img7.jpg"
    assert [pair[:2] for pair in near["train_test"]] == [[copy, face_7]], near["train_test"]
    assert near["train_val"] == near["val_test"] == []
    assert near["train_test"][0][2] <= 2 and not np.array_equal(pixels[7], pixels[len(train)])
    report = build_quality_report(faces, index, 6)
    assert report["near_duplicates"]["max_distance_bits"] == 6
    assert report["near_duplicates"]["train_test"] == near["train_test"]
    fig = plot_near_duplicates(pixels, index, report)
    assert [ax.get_title() for ax in fig.axes if ax.images] == [f"test, {near['train_test'][0][2]} bits\nsad",
                                                               "nearest train\nsad"]
    plt.close(fig)
    report["near_duplicates"]["train_test"] = []  # none found: still a figure that says so
    fig = plot_near_duplicates(pixels, index, report)
    assert not [ax for ax in fig.axes if ax.images] and fig.get_suptitle().startswith("0 test images")
    plt.close(fig)


@pytest.mark.real_data
def test_real_archive_near_duplicates_include_every_exact_leak_and_more(real_faces):
    index = build_image_index(real_faces, 0.1, 0)
    report = build_quality_report(real_faces, index, 6)
    near = {pair[0]: pair for pair in report["near_duplicates"]["train_test"]}
    split_of = dict(zip(index["source"], index["split"], strict=True))
    exact = {s for group in report["duplicates"]["leakage_train_test"] for s in group if split_of[s] == "test"}
    assert exact and exact <= set(near)
    assert all(near[s][2] == 0 for s in exact)
    assert len(near) > len(exact) * 1.3, "FER2013 holds recropped and relit copies beyond the exact ones"
    assert all(pair[2] <= 6 for pair in near.values())
