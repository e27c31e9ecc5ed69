"""The pipeline: file names -> parallel read, decode, resize, random horizontal flip -> batches -> prefetch.

``OWN_PIPELINE_SLOWDOWN=N`` (N > 1) resizes through an image N times larger first: a seeded slowdown of this
builder, for checking that the gate catches one.
"""

from __future__ import annotations

import os

import tensorflow as tf


def build(index, contract, cache_prefix):
    """``(images, labels)`` batches of ``index``'s files under loaderbench's ``contract``."""
    height, width = contract.image_size
    slowdown = int(os.environ.get("OWN_PIPELINE_SLOWDOWN", "1"))
    classes = len(index.class_names)
    files = tf.data.Dataset.from_tensor_slices((tf.constant([str(p) for p in index.paths]),
                                                tf.constant(index.labels, dtype=tf.int32)))
    if contract.shuffle:
        files = files.shuffle(len(index.paths), seed=contract.seed, reshuffle_each_iteration=True)

    def load(path, label):
        image = tf.io.decode_image(tf.io.read_file(path), channels=3, expand_animations=False)
        if slowdown > 1:
            image = tf.image.resize(image, (height * slowdown, width * slowdown))
        image = tf.image.resize(image, (height, width)) / 255.0
        image = tf.image.random_flip_left_right(image, seed=contract.seed)
        if contract.label_mode == "categorical":
            label = tf.one_hot(label, classes)
        return tf.clip_by_value(image, 0.0, 1.0), label

    images = files.map(load, num_parallel_calls=tf.data.AUTOTUNE, deterministic=not contract.shuffle)
    return images.batch(contract.batch_size).prefetch(tf.data.AUTOTUNE)
