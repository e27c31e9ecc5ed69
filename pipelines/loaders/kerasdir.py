"""``keras.utils.image_dataset_from_directory``: the loader most Keras users pick today.

Keras indexes the folder and reads, decodes and resizes each image in its own parallel ``map`` (the same
ops as :func:`pipelines.loaders.tfops.decode_resized`). It is asked for single images (``batch_size=None``)
so that the shared tail can place the cache and the normalisation as for ``tf.data`` from files.
"""

from __future__ import annotations

from pathlib import Path

import keras
import tensorflow as tf

from pipelines.config import Contract
from pipelines.datasets import DatasetIndex
from pipelines.loaders.tfops import finish_pipeline, parallel_calls, to_pixels


def build_kerasdir_pipeline(index: DatasetIndex, contract: Contract, cache_prefix: Path | None) -> tf.data.Dataset:
    # Nothing cached: let Keras shuffle, its own way (file names, before decoding). With a cache, Keras must
    # not shuffle, or the first epoch's order would be frozen into the cache; the tail shuffles after it.
    keras_shuffles = contract.shuffle and contract.cache == "none"
    images = keras.utils.image_dataset_from_directory(
        str(index.root),
        labels="inferred",
        label_mode="int",
        class_names=list(index.class_names),
        color_mode="rgb",
        batch_size=None,
        image_size=contract.image_size,
        shuffle=keras_shuffles,
        seed=contract.seed,
        interpolation=contract.interpolation,
        follow_links=False,
        verbose=False,
    )
    pixels = images.map(lambda x, y: (to_pixels(x), y), num_parallel_calls=parallel_calls(contract),
                        deterministic=not contract.shuffle)
    return finish_pipeline(pixels, contract, len(index.class_names), cache_prefix, shuffled_upstream=keras_shuffles)
