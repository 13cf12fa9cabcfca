"""Model and augmentation builders. Only the ``keras`` API, so every Keras 3 backend runs them;
no Kedro or MLflow import, so a bare GPU machine can use them."""

from __future__ import annotations

import math
from typing import Any

import keras
from keras import layers, ops

from deepfer_kedro.core.errors import WeightsUnavailableError
from deepfer_kedro.labels import IMAGE_SIZE, NUM_CLASSES

VGG16_BLOCKS = 5
IMAGENET_FIX = (
    "Either download vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5 elsewhere and set "
    "`model.weights: <path to that file>` in conf/<env>/parameters_training.yml (or "
    "`kedro run --params model.weights=<path>`), or set `model.weights: null` to train from scratch."
)


@keras.saving.register_keras_serializable(package="deepfer")
class RandomAffine(layers.Layer):
    """Random rotation, zoom, shift and horizontal flip as one affine resampling per image, in
    training only.

    Keras' RandomRotation, RandomTranslation, RandomZoom and RandomCrop declare
    ``supports_jit = False``, and one such layer makes Keras run the whole training step of a JAX
    model eagerly, op by op (the slow GPU epochs once seen on an H100). This layer is built from
    ``keras.ops`` and ``keras.random`` only, so the step stays compiled on every backend.
    """

    def __init__(self, rotation_degrees: float = 0.0, width_shift: float = 0.0, height_shift: float = 0.0,
                 zoom: float = 0.0, horizontal_flip: bool = False, fill_mode: str = "nearest",
                 seed: int | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.rotation_degrees = float(rotation_degrees)
        self.width_shift = float(width_shift)
        self.height_shift = float(height_shift)
        self.zoom = float(zoom)
        self.horizontal_flip = bool(horizontal_flip)
        self.fill_mode = fill_mode
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)
        # TensorFlow's image transform has no XLA kernel; JAX and torch compile it
        self.supports_jit = keras.backend.backend() != "tensorflow"

    def _uniform(self, batch, limit: float):
        return keras.random.uniform((batch,), -limit, limit, seed=self.seed_generator)

    def call(self, images, training=None):
        if not training:
            return images
        shape = ops.shape(images)
        batch, height, width = shape[0], shape[1], shape[2]
        angle = self._uniform(batch, self.rotation_degrees * math.pi / 180)
        scale = 1.0 / (1.0 + self._uniform(batch, self.zoom))  # output -> input coordinates
        flip = (ops.where(keras.random.uniform((batch,), seed=self.seed_generator) < 0.5, -1.0, 1.0)
                if self.horizontal_flip else ops.ones((batch,)))
        shift_x = self._uniform(batch, self.width_shift) * ops.cast(width, "float32")
        shift_y = self._uniform(batch, self.height_shift) * ops.cast(height, "float32")
        cx = (ops.cast(width, "float32") - 1) / 2
        cy = (ops.cast(height, "float32") - 1) / 2
        cos, sin = ops.cos(angle) * scale, ops.sin(angle) * scale
        a0, a1, b0, b1 = cos * flip, -sin, sin * flip, cos
        a2 = cx - a0 * cx - a1 * cy - shift_x
        b2 = cy - b0 * cx - b1 * cy - shift_y
        zeros = ops.zeros_like(a0)
        transform = ops.stack([a0, a1, a2, b0, b1, b2, zeros, zeros], axis=1)
        moved = ops.image.affine_transform(ops.cast(images, "float32"), transform, interpolation="bilinear",
                                           fill_mode=self.fill_mode)
        return ops.cast(moved, self.compute_dtype)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "rotation_degrees": self.rotation_degrees, "width_shift": self.width_shift,
                "height_shift": self.height_shift, "zoom": self.zoom, "horizontal_flip": self.horizontal_flip,
                "fill_mode": self.fill_mode, "seed": self.seed}


def build_augmentation(params: dict[str, Any], seed: int | None = None) -> keras.Sequential:
    """Random transforms for faces scaled to [0, 1]; active only in training, inside the model.

    ``params``: ``horizontal_flip`` (bool), ``rotation_degrees``, ``width_shift``, ``height_shift``,
    ``zoom`` (fractions), as one ``RandomAffine`` that fills with the nearest pixel like
    ``ImageDataGenerator``; and ``random_erasing``, the probability of erasing a random patch.
    """
    steps: list[keras.layers.Layer] = []
    geometry = {k: params.get(k) or 0 for k in ("rotation_degrees", "width_shift", "height_shift", "zoom")}
    if any(geometry.values()) or params.get("horizontal_flip"):
        steps.append(RandomAffine(**geometry, horizontal_flip=bool(params.get("horizontal_flip")), seed=seed))
    if params.get("random_erasing"):
        steps.append(layers.RandomErasing(factor=float(params["random_erasing"]),
                                          scale=(0.02, 0.25), value_range=(0.0, 1.0), seed=seed))
    return keras.Sequential(steps, name="augmentation")


def load_vgg16_base(input_size: int, weights: str | None) -> keras.Model:
    """VGG16 without its top, with ImageNet weights, none (``None``) or a local weights file."""
    shape = (input_size, input_size, 3)
    if weights in (None, "null", "none", "None"):
        return keras.applications.VGG16(include_top=False, weights=None, input_shape=shape)
    if weights == "imagenet":
        try:
            return keras.applications.VGG16(include_top=False, weights="imagenet", input_shape=shape)
        except Exception as err:  # keras raises a bare Exception when the download fails
            raise WeightsUnavailableError(
                f"Could not load the ImageNet weights for VGG16 ({err}). {IMAGENET_FIX}"
            ) from err
    base = keras.applications.VGG16(include_top=False, weights=None, input_shape=shape)
    try:
        base.load_weights(weights)
    except (OSError, ValueError, FileNotFoundError) as err:
        raise WeightsUnavailableError(
            f"Could not load VGG16 weights from the local file {weights!r} ({err}). {IMAGENET_FIX}"
        ) from err
    return base


def _set_trainable_blocks(base: keras.Model, fine_tune_blocks: int) -> None:
    """Trains the top ``fine_tune_blocks`` of VGG16's five blocks; 0 freezes the base."""
    first_trained = VGG16_BLOCKS - int(fine_tune_blocks) + 1
    for layer in base.layers:
        block = int(layer.name[len("block")]) if layer.name.startswith("block") else 0
        layer.trainable = block >= first_trained


def _head(x, dense_units: list[int], dropout: float, l2: float):
    for units in dense_units:
        x = layers.Dense(units, activation="relu", kernel_regularizer=keras.regularizers.L2(l2))(x)
        x = layers.Dropout(dropout)(x)
    return layers.Dense(NUM_CLASSES, activation="softmax", dtype="float32", name="emotion")(x)


def _scaled_input(input_size: int, augmentation: keras.Model | None):
    inputs = keras.Input((IMAGE_SIZE, IMAGE_SIZE, 1), name="face")
    x = layers.Rescaling(1.0 / 255)(inputs)
    if augmentation is not None and augmentation.layers:
        x = augmentation(x)
    if input_size != IMAGE_SIZE:
        x = layers.Resizing(input_size, input_size)(x)
    return inputs, x


def build_vgg16_classifier(*, input_size: int = IMAGE_SIZE, weights: str | None = "imagenet",
                           fine_tune_blocks: int = VGG16_BLOCKS, dense_units: list[int] = (256, 128),
                           dropout: float = 0.5, l2: float = 1e-4,
                           augmentation: keras.Model | None = None) -> keras.Model:
    """The original recipe: gray 48x48 uint8 faces -> [0, 1] -> (augmentation) -> 3 channels ->
    VGG16 -> normalization, pooling, flattening -> two L2-regularised dense layers with dropout
    -> softmax over the 7 emotions."""
    base = load_vgg16_base(input_size, weights)
    _set_trainable_blocks(base, fine_tune_blocks)
    inputs, x = _scaled_input(input_size, augmentation)
    x = layers.Concatenate(name="gray_to_rgb")([x, x, x])
    x = base(x)
    x = layers.BatchNormalization()(x)
    x = layers.MaxPooling2D(pool_size=2, padding="same")(x)
    x = layers.Flatten()(x)
    return keras.Model(inputs, _head(x, list(dense_units), dropout, l2), name="vgg16_fer")


def build_vgg_fer(*, input_size: int = IMAGE_SIZE, base_filters: int = 64, stages: int = 4,
                  convs_per_stage: int = 2, dense_units: list[int] = (1024, 1024),
                  dropout: float = 0.5, l2: float = 1e-4, augmentation: keras.Model | None = None,
                  weights: None = None, fine_tune_blocks: None = None) -> keras.Model:
    """A VGG-style network for 48x48 faces trained from scratch, the family of the best published
    single FER2013 networks: ``stages`` stages of ``convs_per_stage`` conv-BN-ReLU layers and a
    max-pool, with ``base_filters`` filters doubling each stage (64, 128, 256, 512 by default).

    ``weights`` and ``fine_tune_blocks`` are VGG16's; they must be null here, so that a run's
    recorded parameters never claim pretrained weights it did not use."""
    if weights is not None or fine_tune_blocks is not None:
        raise ValueError("model.weights and model.fine_tune_blocks apply to architecture vgg16 only; set them to "
                         f"null for vgg_fer (they are {weights!r} and {fine_tune_blocks!r})")
    inputs, x = _scaled_input(input_size, augmentation)
    regularizer = keras.regularizers.L2(l2)
    for filters in (base_filters * 2**stage for stage in range(stages)):
        for _ in range(convs_per_stage):
            x = layers.Conv2D(filters, 3, padding="same", use_bias=False, kernel_regularizer=regularizer)(x)
            x = layers.BatchNormalization()(x)
            x = layers.Activation("relu")(x)
        x = layers.MaxPooling2D(2)(x)
    x = layers.Flatten()(x)
    return keras.Model(inputs, _head(x, list(dense_units), dropout, l2), name="vgg_fer")


def build_resnet_fer(*, input_size: int = IMAGE_SIZE, base_filters: int = 64, stages: int = 4,
                     convs_per_stage: int = 4, dense_units: list[int] = (512,), dropout: float = 0.4,
                     l2: float = 1e-4, augmentation: keras.Model | None = None, weights: None = None,
                     fine_tune_blocks: None = None) -> keras.Model:
    """A residual network for 48x48 faces trained from scratch, a second family for ensembles:
    a conv stem, then ``stages`` stages of ``convs_per_stage`` conv-BN layers paired into blocks
    with shortcuts (4 gives ResNet-18's basic blocks), ``base_filters`` doubling and the
    resolution halving each stage after the first (48, 24, 12, 6), global average pooling and the
    dense head. The parameters mean what they mean for ``vgg_fer``, so ``--params
    model.architecture=resnet_fer`` swaps the network in any environment. ``weights`` and
    ``fine_tune_blocks`` must be null."""
    if weights is not None or fine_tune_blocks is not None:
        raise ValueError("model.weights and model.fine_tune_blocks apply to architecture vgg16 only; set them to "
                         f"null for resnet_fer (they are {weights!r} and {fine_tune_blocks!r})")
    if convs_per_stage < 2 or convs_per_stage % 2:
        raise ValueError(f"model.convs_per_stage must be even for resnet_fer (two convs a block), "
                         f"not {convs_per_stage}")
    regularizer = keras.regularizers.L2(l2)

    def conv(x, filters: int, size: int = 3, strides: int = 1):
        x = layers.Conv2D(filters, size, strides=strides, padding="same", use_bias=False,
                          kernel_regularizer=regularizer)(x)
        return layers.BatchNormalization()(x)

    inputs, x = _scaled_input(input_size, augmentation)
    x = layers.Activation("relu")(conv(x, base_filters))
    for stage in range(stages):
        filters = base_filters * 2**stage
        for block in range(convs_per_stage // 2):
            strides = 2 if stage > 0 and block == 0 else 1
            shortcut = x if strides == 1 and x.shape[-1] == filters else conv(x, filters, 1, strides)
            y = layers.Activation("relu")(conv(x, filters, strides=strides))
            x = layers.Activation("relu")(layers.Add()([shortcut, conv(y, filters)]))
    x = layers.GlobalAveragePooling2D()(x)
    return keras.Model(inputs, _head(x, list(dense_units), dropout, l2), name="resnet_fer")


ARCHITECTURES = {"vgg16": build_vgg16_classifier, "vgg_fer": build_vgg_fer, "resnet_fer": build_resnet_fer}


def build_model(model_params: dict[str, Any], augmentation: keras.Model | None = None) -> keras.Model:
    """Builds the architecture named by ``model_params['architecture']`` with the rest as arguments."""
    params = dict(model_params)
    name = params.pop("architecture", "vgg16")
    if name not in ARCHITECTURES:
        raise ValueError(f"model.architecture {name!r} is not one of {sorted(ARCHITECTURES)}")
    try:
        return ARCHITECTURES[name](augmentation=augmentation, **params)
    except TypeError as err:  # a parameter the architecture does not take
        raise ValueError(f"model.architecture {name}: {err}") from err
