"""``keras.utils.image_dataset_from_directory``: the loader most Keras users pick today, built as its documentation
shows.

Keras indexes the folder, shuffles the file names (a buffer of 8 batches), reads, decodes and resizes each
image in a parallel ``map`` (the same ops as :func:`pipelines.loaders.tfops.decode_resized`) and batches
(``batch_size`` given). Then, as in Keras' and TensorFlow's tutorials: ``.cache()``, ``.shuffle()``,
``.prefetch()``. Whole batches flow through the tail, so rounding to ``uint8`` pixels (the contract's, and
what makes this loader bit-equal to ``tfdata``) and normalising are one vectorised op per batch.

What users of this pattern get, and this loader keeps: with a cache, the shuffle after it reorders whole
batches, so the images that share a batch are those of the first epoch (the tutorials' ``.cache().shuffle()``);
without a cache, Keras reshuffles file names every epoch. Order is non-deterministic where shuffling, as
tf.data is allowed to be when nothing depends on order.
"""

from __future__ import annotations

import math
from pathlib import Path

import keras
import tensorflow as tf

from pipelines.loaders.contract import Contract
from pipelines.datasets import DatasetIndex
from pipelines.loaders.tfops import (
    apply_cache,
    encode_labels,
    normalise,
    parallel_calls,
    shuffle_buffer,
    to_pixels,
)


def from_directory(index: DatasetIndex, contract: Contract, output: str = "tf"):
    """``image_dataset_from_directory`` over the checked folder under ``contract``, returning a ``tf.data``
    dataset or (``output="grain"``) a Grain one: Keras' own batches, its shuffling, its decoding."""
    return keras.utils.image_dataset_from_directory(
        str(index.root),
        labels="inferred",
        label_mode="int",
        class_names=list(index.class_names),
        color_mode="rgb",
        batch_size=contract.batch_size,
        image_size=contract.image_size,
        shuffle=contract.shuffle,
        seed=contract.seed,
        interpolation=contract.interpolation,
        follow_links=False,
        verbose=False,
        format=output,
    )


def build_kerasdir_pipeline(index: DatasetIndex, contract: Contract, cache_prefix: Path | None) -> tf.data.Dataset:
    batches = from_directory(index, contract)
    calls = parallel_calls(contract)
    classes = len(index.class_names)
    if contract.placement == "float32":  # the study's layout: normalised before the cache
        def before_cache(x, y):
            return normalise(to_pixels(x)), y

        def after_cache(x, y):
            return x, encode_labels(y, contract, classes)
    else:  # uint8 pixels in the cache, normalised after it
        def before_cache(x, y):
            return to_pixels(x), y

        def after_cache(x, y):
            return normalise(x), encode_labels(y, contract, classes)
    ds = batches.map(before_cache, num_parallel_calls=calls)
    if contract.cache_spec.caches:
        ds = apply_cache(ds, contract, cache_prefix)
        if contract.shuffle:  # the buffer holds batches: as many images as the contract's buffer, not 32x more
            buffer = math.ceil(shuffle_buffer(contract, index.images) / contract.batch_size)
            ds = ds.shuffle(buffer, seed=contract.seed, reshuffle_each_iteration=True)
    ds = ds.map(after_cache, num_parallel_calls=calls).prefetch(tf.data.AUTOTUNE)
    if contract.shuffle:
        options = tf.data.Options()
        options.deterministic = False
        ds = ds.with_options(options)
    return ds
