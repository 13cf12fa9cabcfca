"""MixUp and CutMix of training batches: faces, labels and class weights mixed alike, and
reproducible from (seed, epoch, batch)."""

import numpy as np
import pytest

from deepfer_kedro.core.batches import FaceBatches, mix_batch
from deepfer_kedro.labels import NUM_CLASSES

LEVELS = np.arange(NUM_CLASSES) * 30.0 + 10  # each emotion's faces are one flat grey level
CLASS_WEIGHTS = np.arange(1, NUM_CLASSES + 1, dtype="float32")


def flat_faces(n=64):
    labels = np.arange(n) % NUM_CLASSES
    faces = np.broadcast_to(LEVELS[labels, None, None], (n, 48, 48)).astype(np.uint8)
    return faces, labels


@pytest.mark.parametrize("mixing", [{"mixup_alpha": 0.4}, {"cutmix_alpha": 1.0}])
def test_faces_labels_and_weights_are_mixed_by_the_same_share(mixing):
    faces, labels = flat_faces()
    batches = FaceBatches(faces, np.arange(len(faces)), labels, 32, seed=3, class_weights=CLASS_WEIGHTS,
                          mixing=mixing)
    mixed_any = False
    for index in range(len(batches)):
        x, y, w = batches[index]
        assert x.dtype == np.float32 and x.shape == (32, 48, 48, 1)
        np.testing.assert_allclose(y.sum(axis=1), 1, rtol=1e-6)
        # a face's mean grey level, its label and its weight are the same blend of two faces
        np.testing.assert_allclose(x.mean(axis=(1, 2, 3)), y @ LEVELS, rtol=1e-4)
        np.testing.assert_allclose(w, y @ CLASS_WEIGHTS, rtol=1e-5)
        mixed_any |= bool((y.max(axis=1) < 1).any())
    assert mixed_any
    if "cutmix_alpha" in mixing:  # a pasted box: every pixel is one of the two faces' levels
        assert set(np.unique(x)) <= set(LEVELS.astype(np.uint8).astype(np.float32))


def test_the_same_seed_epoch_and_batch_give_the_same_mix():
    faces, labels = flat_faces()
    make = lambda: FaceBatches(faces, np.arange(64), labels, 16, seed=1,  # noqa: E731
                               mixing={"mixup_alpha": 0.4, "cutmix_alpha": 1.0})
    first, second = make(), make()
    second[3], second[0]  # noqa: B018 (reading other batches first changes nothing)
    for index in range(4):
        np.testing.assert_array_equal(first[index][0], second[index][0])
        np.testing.assert_array_equal(first[index][1], second[index][1])
    second.set_epoch(1)
    assert not np.array_equal(first[0][1], second[0][1])


def test_no_mixing_leaves_the_batch_as_it_was():
    faces, labels = flat_faces(16)
    one_hot = np.eye(NUM_CLASSES, dtype="float32")[labels]
    rng = np.random.default_rng(0)
    out = mix_batch(faces, one_hot, None, rng, mixup_alpha=0.4, mix_probability=0.0)
    assert out[0] is faces and out[1] is one_hot and out[2] is None
    off = {"mixup_alpha": 0.0, "cutmix_alpha": 0.0, "mix_probability": 1.0}  # conf/base: both alphas 0
    plain = FaceBatches(faces, np.arange(16), labels, 8, mixing=off)[0]
    assert plain[0].dtype == np.uint8 and len(plain) == 2


def test_an_unknown_mixing_setting_is_named():
    faces, labels = flat_faces(8)
    with pytest.raises(ValueError, match="mixup_alfa"):
        FaceBatches(faces, np.arange(8), labels, 8, mixing={"mixup_alfa": 0.2})
