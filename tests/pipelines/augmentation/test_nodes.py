import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from deepfer_kedro.labels import EMOTIONS
from deepfer_kedro.models import build_augmentation
from deepfer_kedro.pipelines.augmentation.nodes import plot_augmentation_preview

RECIPE = {"rotation_degrees": 10, "width_shift": 0.1, "height_shift": 0.1, "zoom": 0.1,
          "horizontal_flip": True}


def test_recipe_layers_are_built_from_parameters():
    [affine] = build_augmentation(RECIPE, seed=1).layers
    assert type(affine).__name__ == "RandomAffine"
    assert (affine.rotation_degrees, affine.width_shift, affine.height_shift, affine.zoom) == (10, 0.1, 0.1, 0.1)
    assert affine.horizontal_flip and affine.fill_mode == "nearest"
    assert build_augmentation({}).layers == []
    extra = build_augmentation({**RECIPE, "random_erasing": 0.5}).layers
    assert [type(layer).__name__ for layer in extra] == ["RandomAffine", "RandomErasing"]


def test_augmentation_declares_xla_support_by_backend():
    # one layer with supports_jit=False makes Keras run a JAX model's whole step eagerly; on
    # TensorFlow the image transform has no XLA kernel (tests/test_backends.py checks JAX)
    import keras

    layers = build_augmentation({**RECIPE, "random_erasing": 0.5}).layers
    assert [layer.supports_jit for layer in layers] == [keras.backend.backend() != "tensorflow", True]


def test_affine_geometry_matches_the_parameters():
    import keras

    from deepfer_kedro.models import RandomAffine

    image = np.zeros((1, 48, 48, 1), "float32")
    image[0, 20:28, 4:12] = 1.0  # a bright square left of centre
    flipped = np.asarray(RandomAffine(horizontal_flip=True, seed=3)(np.repeat(image, 16, 0), training=True))
    mirrored = image[0, :, ::-1]
    assert any(np.allclose(f, mirrored, atol=1e-5) for f in flipped)
    assert any(np.allclose(f, image[0], atol=1e-5) for f in flipped)
    shifted = np.asarray(RandomAffine(width_shift=0.25, seed=1)(np.repeat(image, 8, 0), training=True))
    columns = shifted[..., 0].sum(axis=1).argmax(axis=1)
    assert np.all(np.abs(columns - 8) <= 13) and len(set(columns.tolist())) > 1  # moved by at most 12 px
    rotated = np.asarray(RandomAffine(rotation_degrees=10, seed=2)(image, training=True))
    assert abs(rotated.sum() - image.sum()) < 0.15 * image.sum()  # a small rotation keeps the mass
    layer = RandomAffine(rotation_degrees=5, zoom=0.2, seed=0)
    assert keras.layers.deserialize(keras.layers.serialize(layer)).get_config() == layer.get_config()


def test_augmentation_changes_images_in_training_only_and_keeps_range():
    images = np.random.default_rng(0).random((8, 48, 48, 1)).astype("float32")
    augment = build_augmentation(RECIPE, seed=1)
    trained = np.asarray(augment(images, training=True))
    assert trained.shape == images.shape
    assert not np.allclose(trained, images)
    assert trained.min() >= 0 and trained.max() <= 1.0001
    np.testing.assert_allclose(np.asarray(augment(images, training=False)), images)


def test_preview_grid_shows_each_emotion_original_and_augmented():
    rng = np.random.default_rng(0)
    index = pd.DataFrame({"emotion": [e for e in EMOTIONS for _ in range(3)], "split": "train"})
    pixels = rng.integers(0, 256, (21, 48, 48), dtype=np.uint8)
    fig = plot_augmentation_preview(pixels, index, RECIPE, faces_per_emotion=2, seed=0)
    assert len(fig.axes) == 7 * 4
    titles = [ax.get_title() for ax in fig.axes[:4]]
    assert titles == ["original", "augmented", "original", "augmented"]
    shown = [ax.images[0].get_array() for ax in fig.axes[:2]]
    assert not np.allclose(shown[0], shown[1])
    plt.close(fig)
