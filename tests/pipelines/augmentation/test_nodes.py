import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from deepfer_kedro.labels import EMOTIONS
from deepfer_kedro.models import build_augmentation
from deepfer_kedro.pipelines.augmentation.nodes import plot_augmentation_preview

RECIPE = {"rotation_degrees": 10, "width_shift": 0.1, "height_shift": 0.1, "zoom": 0.1,
          "horizontal_flip": True}


def test_recipe_layers_are_built_from_parameters():
    names = [type(layer).__name__ for layer in build_augmentation(RECIPE, seed=1).layers]
    assert names == ["RandomFlip", "RandomRotation", "RandomTranslation", "RandomZoom"]
    assert build_augmentation({}).layers == []
    extra = build_augmentation({**RECIPE, "crop_padding": 4, "random_erasing": 0.5}).layers
    assert [type(layer).__name__ for layer in extra][-3:] == ["ZeroPadding2D", "RandomCrop", "RandomErasing"]


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
    pixels = {"pixels": rng.integers(0, 256, (21, 48, 48), dtype=np.uint8)}
    fig = plot_augmentation_preview(pixels, index, RECIPE, faces_per_emotion=2, seed=0)
    assert len(fig.axes) == 7 * 4
    titles = [ax.get_title() for ax in fig.axes[:4]]
    assert titles == ["original", "augmented", "original", "augmented"]
    shown = [ax.images[0].get_array() for ax in fig.axes[:2]]
    assert not np.allclose(shown[0], shown[1])
    plt.close(fig)
