"""The tf.data steps every TensorFlow-based loader shares, so their outputs are equal by construction.

The order of steps is the whole game in tf.data, and each choice here is deliberate:

1. read + decode + resize in a parallel ``map`` (AUTOTUNE): the expensive part, spread over all cores.
2. round to uint8 pixels: what a decoded, resized photo is, and what ImageDataGenerator (PIL) yields.
3. ``float32`` placement: normalise *before* the cache -- the study's layout, 4 bytes a value.
4. ``cache`` after the expensive steps, so warm epochs skip reading and decoding.
5. ``shuffle`` after the cache, or every epoch would replay the first epoch's order from the cache.
6. ``batch`` (parallel), then the ``uint8`` placement normalises whole batches after the cache: a quarter of
   the cached bytes, and one vectorised op per batch instead of one per image.
7. ``prefetch`` last, so the next batches are prepared while the model consumes this one.
"""

from __future__ import annotations

from pathlib import Path

import tensorflow as tf

from pipelines.config import Contract


def parallel_calls(contract: Contract) -> int:
    return contract.parallelism or tf.data.AUTOTUNE


def decode_resized(path: tf.Tensor, contract: Contract) -> tf.Tensor:
    """File path -> ``uint8`` image of ``contract.image_size``; the same ops as Keras' own loader."""
    data = tf.io.read_file(path)
    image = tf.io.decode_image(data, channels=3, expand_animations=False)
    return to_pixels(tf.image.resize(image, contract.image_size, method=contract.interpolation))


def to_pixels(image: tf.Tensor) -> tf.Tensor:
    """Resized image (float32 from bilinear, uint8 from nearest) -> ``uint8`` pixels, rounded to nearest."""
    if image.dtype == tf.uint8:
        return image
    return tf.cast(tf.clip_by_value(tf.round(image), 0.0, 255.0), tf.uint8)


def normalise(images: tf.Tensor) -> tf.Tensor:
    """``uint8`` pixels -> ``float32`` in [0, 1]; the one place the scale is defined."""
    return tf.cast(images, tf.float32) / 255.0


def encode_labels(labels: tf.Tensor, contract: Contract, num_classes: int) -> tf.Tensor:
    labels = tf.cast(labels, tf.int32)
    if contract.label_mode == "categorical":
        return tf.one_hot(labels, num_classes, dtype=tf.float32)
    return labels


def finish_pipeline(
    images_and_labels: tf.data.Dataset,
    contract: Contract,
    num_classes: int,
    cache_prefix: Path | None,
    shuffled_upstream: bool,
) -> tf.data.Dataset:
    """Steps 3-7 above, on a dataset of ``(uint8 image, int label)`` elements.

    ``shuffled_upstream``: the source already shuffles file names every epoch (cheap, and right when nothing
    is cached); a shuffle is then only added after a cache.
    """
    calls = parallel_calls(contract)
    deterministic = not contract.shuffle  # in-order output costs a little; only equality checks need it
    ds = images_and_labels
    if contract.placement == "float32":
        ds = ds.map(lambda x, y: (normalise(x), y), num_parallel_calls=calls, deterministic=deterministic)
    if contract.cache != "none":
        ds = ds.cache(str(cache_prefix) if contract.cache == "file" else "")
    if contract.shuffle and (contract.cache != "none" or not shuffled_upstream):
        ds = ds.shuffle(contract.shuffle_buffer, seed=contract.seed, reshuffle_each_iteration=True)
    ds = ds.batch(contract.batch_size, num_parallel_calls=calls, deterministic=deterministic)
    if contract.placement == "uint8":
        def finalise(x, y):
            return normalise(x), encode_labels(y, contract, num_classes)
    else:
        def finalise(x, y):
            return x, encode_labels(y, contract, num_classes)
    ds = ds.map(finalise, num_parallel_calls=calls, deterministic=deterministic)
    return ds.prefetch(tf.data.AUTOTUNE)
