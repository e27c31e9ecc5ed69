"""The study's model: MobileNet transfer learning, one ``model.fit`` epoch per round.

The base is frozen and a new softmax head is sized to the dataset's classes, as in the study. Weights are
random (``weights=None``) unless a local file or ``imagenet`` is given: nothing is downloaded at run time.
The contract delivers images in [0, 1]; a ``Rescaling`` layer maps them to MobileNet's [-1, 1].
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import keras
import tensorflow as tf

from pipelines.config import Contract
from pipelines.loaders import Pipeline
from pipelines.measure import EpochRun


@dataclass(frozen=True)
class ModelSpec:
    """Attributes: classes (head size), alpha (MobileNet width), weights (None, a file, or ``imagenet``)."""

    classes: int
    alpha: float = 1.0
    weights: str | None = None


def build_model(spec: ModelSpec, contract: Contract) -> keras.Model:
    height, width = contract.image_size
    base = keras.applications.MobileNet(
        input_shape=(height, width, 3), alpha=spec.alpha, include_top=False, weights=spec.weights, pooling="avg"
    )
    base.trainable = False
    inputs = keras.Input((height, width, 3))
    x = keras.layers.Rescaling(2.0, offset=-1.0)(inputs)
    outputs = keras.layers.Dense(spec.classes, activation="softmax")(base(x, training=False))
    model = keras.Model(inputs, outputs, name=f"mobilenet_{spec.alpha:g}")
    loss = "sparse_categorical_crossentropy" if contract.label_mode == "int" else "categorical_crossentropy"
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss=loss, metrics=["accuracy"])
    return model


class _EpochClock(keras.callbacks.Callback):
    """The epoch as Keras reports it: from epoch start to epoch end, and to the end of the first step."""

    def __init__(self) -> None:
        super().__init__()
        self.begin = self.first_step = self.end = None

    def on_epoch_begin(self, epoch, logs=None):
        self.begin = time.perf_counter()

    def on_train_batch_end(self, batch, logs=None):
        if self.first_step is None:
            self.first_step = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        self.end = time.perf_counter()


def fit_epoch(model: keras.Model, pipeline: Pipeline) -> EpochRun:
    """One ``model.fit`` epoch over ``pipeline``, with the images it consumed counted in the input itself.

    ``seconds`` is the epoch as Keras reports it (what the study's minutes per epoch are); the rest of the
    ``fit`` call (set-up, and tearing down the iterator, which in TensorFlow 2.21 can wait for the tf.data
    autotuner's next wake-up) is ``overhead_s``. pytest-benchmark times the whole call.
    """
    pipeline.before_epoch()
    fit_input, images_seen = _counted(pipeline)
    clock = _EpochClock()
    start = time.perf_counter()
    model.fit(fit_input, epochs=1, verbose=0, shuffle=False, callbacks=[clock])
    call_s = time.perf_counter() - start
    epoch_s = clock.end - clock.begin
    return EpochRun(images_seen(), pipeline.steps, epoch_s, clock.first_step - clock.begin, call_s - epoch_s)


def model_only_images_per_sec(model: keras.Model, contract: Contract, images: int, classes: int) -> float:
    """The model's own speed: one epoch of ``images`` from a tensor already in memory (no loader at all)."""
    height, width = contract.image_size
    x = tf.random.uniform((contract.batch_size, height, width, 3))
    y = tf.random.uniform((contract.batch_size,), 0, classes, dtype=tf.int32)
    if contract.label_mode == "categorical":
        y = tf.one_hot(y, classes)
    full, rest = divmod(images, contract.batch_size)
    data = tf.data.Dataset.from_tensors((x, y)).repeat(full)
    if rest:  # the same short last batch as a real epoch
        data = data.concatenate(tf.data.Dataset.from_tensors((x[:rest], y[:rest])))
    model.fit(data.skip(max(0, full - 1)), epochs=1, verbose=0, shuffle=False)  # trace both shapes, untimed
    clock = _EpochClock()
    model.fit(data, epochs=1, verbose=0, shuffle=False, callbacks=[clock])
    return images / (clock.end - clock.begin)


def _counted(pipeline: Pipeline):
    """The pipeline's ``fit`` input plus a function returning how many images ``fit`` pulled through it."""
    source = pipeline.fit_input
    if isinstance(source, tf.data.Dataset):
        counter = tf.Variable(0, dtype=tf.int64, trainable=False)

        def count(images, labels):
            counter.assign_add(tf.cast(tf.shape(images)[0], tf.int64))
            return images, labels

        return source.map(count), lambda: int(counter.numpy())
    source.served.clear()
    return source, lambda: sum(source.served.values())
