"""The study's model: MobileNet transfer learning, one ``model.fit`` epoch per round.

The base is frozen and a new softmax head is sized to the dataset's classes, as in the study. Weights are
random (``weights=None``) unless a local file or ``imagenet`` is given: nothing is downloaded at run time.
The contract delivers images in [0, 1]; a ``Rescaling`` layer maps them to MobileNet's [-1, 1].
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import keras
import tensorflow as tf

from pipelines.epoch import clock
from pipelines.loaders.contract import Contract
from pipelines.loaders import Pipeline
from pipelines.epoch.run import EpochRun
from pipelines.epoch.teardown import release_later


@dataclass(frozen=True)
class ModelSpec:
    """Attributes: classes (head size), alpha (MobileNet width), weights (None, a file, or ``imagenet``),
    accelerator (images/s of an emulated accelerator instead of MobileNet; ``None``: the real model)."""

    classes: int
    alpha: float = 1.0
    weights: str | None = None
    accelerator: float | None = None


def model_name(spec: ModelSpec) -> str:
    """The built model's name, recorded with its results (``mobilenet_1``, ``emulated_2000_img_s``)."""
    if spec.accelerator is not None:
        return f"emulated_{spec.accelerator:g}_img_s"
    return f"mobilenet_{spec.alpha:g}"


class EmulatedAccelerator(keras.Model):
    """An accelerator that trains at ``images_per_sec``: each train step sleeps batch / rate seconds.

    On a CPU-only machine MobileNet trains at 40-200 images/s and every loader looks compute-bound; the study's
    GPU was fast enough for the loader to decide the epoch. As MLPerf Storage and DLIO do, the step is emulated
    by its time alone, inside ``model.fit``, so prefetching overlaps it exactly as it would a real step. The
    sleep holds no CPU, as a GPU step would not (the host's share of a real step is not modelled).
    """

    def __init__(self, images_per_sec: float) -> None:
        super().__init__(name=model_name(ModelSpec(0, accelerator=images_per_sec)))
        self.images_per_sec = float(images_per_sec)

    def call(self, inputs):
        return inputs

    def train_step(self, data):
        seconds = tf.cast(tf.shape(data[0])[0], tf.float64) / self.images_per_sec
        slept = tf.numpy_function(lambda s: (time.sleep(float(s)), s)[1], [seconds], tf.float64)
        return {"step_s": slept}  # Keras needs a logged value to carry the step


def build_model(spec: ModelSpec, contract: Contract) -> keras.Model:
    if spec.accelerator is not None:
        model = EmulatedAccelerator(spec.accelerator)
        model.compile()
        return model
    height, width = contract.image_size
    base = keras.applications.MobileNet(
        input_shape=(height, width, 3), alpha=spec.alpha, include_top=False, weights=spec.weights, pooling="avg"
    )
    base.trainable = False
    inputs = keras.Input((height, width, 3))
    x = keras.layers.Rescaling(2.0, offset=-1.0)(inputs)
    outputs = keras.layers.Dense(spec.classes, activation="softmax")(base(x, training=False))
    model = keras.Model(inputs, outputs, name=model_name(spec))
    loss = "sparse_categorical_crossentropy" if contract.label_mode == "int" else "categorical_crossentropy"
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss=loss, metrics=["accuracy"])
    return model


class _EpochClock(keras.callbacks.Callback):
    """The epochs as Keras reports them, and the benchmark clock running only inside them.

    ``fit`` is called with :mod:`pipelines.epoch.clock` paused; this callback resumes it at each epoch's start and
    pauses it at each epoch's end, so ``fit``'s set-up and tear-down (which can stall for seconds after the
    epoch) are kept out of the stored time.
    """

    def __init__(self) -> None:
        super().__init__()
        self.begin = self.first_step = self.end = None
        self.running = False
        self.spent: list = []  # fit's iterators, held past the call (see _fit_iterators)

    def on_epoch_begin(self, epoch, logs=None):
        clock.resume()
        self.running = True
        self.begin = time.perf_counter()

    def on_train_batch_end(self, batch, logs=None):
        if self.first_step is None:
            self.first_step = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        self.end = time.perf_counter()
        self.running = False
        clock.pause()

    def on_train_end(self, logs=None):
        self.spent = _fit_iterators()


def _fit_iterators() -> list:
    """The iterators of the running ``model.fit`` (its local ``epoch_iterator``, and ``iterator``), so that
    they outlive the call and are destroyed on :mod:`pipelines.epoch.teardown`'s thread: ``fit`` destroys
    them before returning, which waits for the tf.data autotuner (up to about an epoch's length a call).
    Keras' local names are an implementation detail: if they are not found, nothing is held and ``fit``
    destroys its iterators itself, as before (slower, the same figures)."""
    frame = sys._getframe(2)
    try:
        while frame is not None:
            if frame.f_code.co_name == "fit" and "epoch_iterator" in frame.f_locals:
                return [frame.f_locals.get(name) for name in ("epoch_iterator", "iterator")]
            frame = frame.f_back
        return []
    finally:
        del frame


def _fit_one_epoch(model: keras.Model, fit_input: Any, images: Callable[[], int], steps: int,
                   steps_per_epoch: int | None = None) -> EpochRun:
    """``model.fit`` for one epoch with the benchmark clock running only inside the epoch: Keras' epoch as
    ``seconds``, the rest of the call as ``overhead_s``; ``images()`` counts what the epoch consumed."""
    epoch_clock = _EpochClock()
    start = time.perf_counter()
    clock.pause()
    try:
        model.fit(fit_input, epochs=1, verbose=0, shuffle=False, callbacks=[epoch_clock],
                  steps_per_epoch=steps_per_epoch)
        call_s = time.perf_counter() - start
        release_later(epoch_clock.spent)
    finally:
        if not epoch_clock.running:  # an error inside the epoch leaves the clock already running
            clock.resume()
    epoch_s = epoch_clock.end - epoch_clock.begin
    return EpochRun(images(), steps, epoch_s, epoch_clock.first_step - epoch_clock.begin, call_s - epoch_s)


def fit_epoch(model: keras.Model, pipeline: Pipeline) -> EpochRun:
    """One ``model.fit`` epoch over ``pipeline``, with the images it consumed counted in the input itself.

    ``seconds`` is the epoch as Keras reports it (what the study's minutes per epoch are), and the only part
    the benchmark clock sees; the rest of the ``fit`` call (its set-up and tear-down) is ``overhead_s``, reported
    apart. Destroying fit's iterator, which in TensorFlow 2.21 waits for the tf.data autotuner's next wake-up,
    happens on the tear-down thread instead (:func:`_fit_iterators`).
    """
    with clock.paused():
        pipeline.before_epoch()
        fit_input, images_seen = _counted(pipeline)
    # An input of no known length (a Grain dataset, a generator) is given its steps, as Keras asks of one.
    sized = isinstance(fit_input, tf.data.Dataset) or hasattr(fit_input, "__len__")
    return _fit_one_epoch(model, fit_input, images_seen, pipeline.steps, None if sized else pipeline.steps)


class ModelOnly:
    """The model's own speed: epochs over one batch of tensors already in memory (no loader at all).

    The reference no loader can beat. The same short last batch as a real epoch; both batch shapes are traced
    before any timing, so no case pays for tracing either.
    """

    def __init__(self, model: keras.Model, contract: Contract, images: int, classes: int) -> None:
        self.model, self.images = model, images
        height, width = contract.image_size
        x = tf.random.uniform((contract.batch_size, height, width, 3))
        y = tf.random.uniform((contract.batch_size,), 0, classes, dtype=tf.int32)
        if contract.label_mode == "categorical":
            y = tf.one_hot(y, classes)
        full, rest = divmod(images, contract.batch_size)
        data = tf.data.Dataset.from_tensors((x, y)).repeat(full)
        if rest:
            data = data.concatenate(tf.data.Dataset.from_tensors((x[:rest], y[:rest])))
        options = tf.data.Options()
        options.autotune.enabled = False  # tensors in memory: nothing to tune, and no autotuner to wait for
        self.data = data.with_options(options)
        self.steps = full + bool(rest)
        model.fit(self.data.skip(max(0, full - 1)), epochs=1, verbose=0, shuffle=False)  # trace both shapes, untimed

    def epoch(self) -> EpochRun:
        return _fit_one_epoch(self.model, self.data, lambda: self.images, self.steps)


def _counted(pipeline: Pipeline):
    """The pipeline's ``fit`` input plus a function returning how many images ``fit`` pulled through it."""
    source = pipeline.fit_input
    if isinstance(source, tf.data.Dataset):
        counter = tf.Variable(0, dtype=tf.int64, trainable=False)

        def count(images, labels):
            counter.assign_add(tf.cast(tf.shape(images)[0], tf.int64))
            return images, labels

        return source.map(count), lambda: int(counter.numpy())
    if hasattr(source, "forget_served"):  # a PyDataset of ours (ImageDataGenerator's batches)
        source.forget_served()
        return source, source.images_served
    if type(source).__module__.partition(".")[0] == "grain":  # a Grain dataset, which Keras' Grain adapter iterates
        from pipelines.loaders.grain_folder import Counted

        counted = Counted(source)
        return counted, counted.images
    seen = [0]

    def batches() -> Iterator:  # a team's own PyDataset or iterable: one epoch, a generator fit takes with its steps
        for batch in source:
            seen[0] += len(batch[1])
            yield batch
    return batches(), lambda: seen[0]
