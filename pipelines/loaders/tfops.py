"""The tf.data steps every TensorFlow-based loader shares, so their outputs are equal by construction.

The order of steps is the whole game in tf.data, and each choice here is deliberate:

1. read + decode + resize in a parallel ``map`` (AUTOTUNE): the expensive part, spread over all cores. The
   ``fast`` decode (:func:`decode_resized_fast`) lets libjpeg downscale in the DCT domain first.
2. round to uint8 pixels: what a decoded, resized photo is, and what ImageDataGenerator (PIL) yields.
3. ``float32`` placement: normalise *before* the cache -- the study's layout, 4 bytes a value.
4. ``cache`` after the expensive steps, so warm epochs skip reading and decoding.
5. ``shuffle`` after the cache, or every epoch would replay the first epoch's order from the cache; its buffer
   is at most the dataset (a larger one only costs RAM and start-up).
6. ``batch`` (parallel), then the ``uint8`` placement normalises whole batches after the cache: a quarter of
   the cached bytes, and one vectorised op per batch instead of one per image.
7. ``prefetch`` last, so the next batches are prepared while the model consumes this one.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import tensorflow as tf

from pipelines.loaders.contract import Contract


def parallel_calls(contract: Contract) -> int:
    return contract.parallelism or tf.data.AUTOTUNE


def without_autotune(dataset: tf.data.Dataset) -> tf.data.Dataset:
    """``dataset`` with tf.data's autotuning off: for a reference pass whose parallelism is set by hand and whose
    iterator is destroyed on the clock (the machine's decode limit, drained by ``Dataset.reduce``), so that a
    round ends when its work does.

    Destroying an iterator of an autotuned dataset waits for the autotuner's next wake-up, which comes 10 ms,
    30, 70, ... 630 ms, 1.27 s, ... 10.2 s, 20.5 s after the iterator started, each period twice the last; the
    loaders' epochs hand their spent iterators to a thread off the clock (:mod:`pipelines.epoch.teardown`), a
    pass inside ``reduce`` cannot: with autotuning on, a round of the decode limit lasts until the next wake-up
    rather than its work, and rounds of the same work disagree by that much. The loaders themselves keep
    autotuning on, as their users do."""
    options = tf.data.Options()
    options.autotune.enabled = False
    return dataset.with_options(options)


def decode_resized(path: tf.Tensor, contract: Contract) -> tf.Tensor:
    """File path -> ``uint8`` image of ``contract.image_size``; the same ops as Keras' own loader."""
    return decode_bytes_resized(tf.io.read_file(path), contract)


def decode_bytes_resized(data: tf.Tensor, contract: Contract) -> tf.Tensor:
    """Encoded image bytes (a file's, or a TFRecord's) -> ``uint8`` image of ``contract.image_size``."""
    return resized(decoded(data), contract)


def decoded(data: tf.Tensor) -> tf.Tensor:
    """Encoded image bytes -> ``uint8`` RGB pixels at the image's own size."""
    return tf.io.decode_image(data, channels=3, expand_animations=False)


def resized(image: tf.Tensor, contract: Contract) -> tf.Tensor:
    """Pixels -> ``uint8`` image of ``contract.image_size`` (Keras' resize)."""
    return to_pixels(tf.image.resize(image, contract.image_size, method=contract.interpolation))


#: libjpeg's inverse DCT for the fast decode: the integer "fast" transform, TensorFlow's default (bit-equal to
#: ``decode_image`` at full scale); ``INTEGER_ACCURATE`` measured no faster within this VM's noise, and further
#: from the exact pixels once scaled (docs/loaders-and-caches.md).
FAST_DCT_METHOD = "INTEGER_FAST"

#: The scales libjpeg decodes at (1/ratio), largest first.
DCT_RATIOS: tuple[int, ...] = (8, 4, 2)


def dct_ratio(height: int, width: int, target: tuple[int, int]) -> int:
    """The largest ratio that keeps a ``height`` x ``width`` JPEG at or above ``target`` (height, width) on both
    sides; 1 when none does."""
    target_height, target_width = target
    scale = min(height // target_height, width // target_width)
    return next((r for r in DCT_RATIOS if scale >= r), 1)


def decode_resized_at(path: tf.Tensor, contract: Contract, ratio: int) -> tf.Tensor:
    """A JPEG path -> ``uint8`` image of ``contract.image_size``, decoded at 1/``ratio`` scale: no branch at all,
    for datasets whose JPEGs all take the same ratio."""
    return resized(tf.io.decode_jpeg(tf.io.read_file(path), channels=3, ratio=ratio, dct_method=FAST_DCT_METHOD),
                   contract)


def decode_resized_fast(path: tf.Tensor, contract: Contract) -> tf.Tensor:
    """File path -> ``uint8`` image of ``contract.image_size``, decoding JPEGs at 1/2, 1/4 or 1/8 scale.

    libjpeg can skip most of the inverse DCT when asked for a smaller image (``ratio``): a 640x480 photo
    decoded at 1/2 is 320x240, still at least the 224x224 target, so the resize that follows loses nothing it
    would have kept. The largest ratio that keeps both sides at or above the target is chosen per image (a
    ratio is a graph constant, hence one branch per ratio). Other formats take the exact path. Pixels differ
    from :func:`decode_resized` (scaling in the DCT domain averages, bilinear resizing samples): measured and
    bounded by a test.
    """
    data = tf.io.read_file(path)
    height, width = contract.image_size

    def jpeg() -> tf.Tensor:
        shape = tf.io.extract_jpeg_shape(data)
        scale = tf.minimum(shape[0] // height, shape[1] // width)

        def at(ratio: int):
            return lambda: tf.io.decode_jpeg(data, channels=3, ratio=ratio, dct_method=FAST_DCT_METHOD)

        return tf.case([(scale >= r, at(r)) for r in DCT_RATIOS], default=at(1))

    image = tf.cond(tf.io.is_jpeg(data), jpeg, lambda: decoded(data))
    image.set_shape((None, None, 3))
    return resized(image, contract)


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


#: How each cache mode that caches is applied to a dataset (the builder's half of a cache mode; its declaration
#: is its :class:`~pipelines.caches.modes.CacheSpec`). ``prefix``: the file prefix of a cache that lives on disk.
CACHE_OPS: dict[str, Callable[[tf.data.Dataset, Path | None], tf.data.Dataset]] = {
    "memory": lambda ds, prefix: ds.cache(""),
    "file": lambda ds, prefix: ds.cache(str(prefix)),
    # Uncompressed: TensorFlow's default (AUTO: snappy) cannot read back an element over 256 KB -- a float32
    # 224x224 image is 602 KB -- ("Output buffer(size: 262144 bytes) too small", tensorflow#47056; TF 2.21).
    "snapshot": lambda ds, prefix: ds.snapshot(str(prefix), compression=None),
    "save": lambda ds, prefix: saved(ds, prefix, None),
    "save-gzip": lambda ds, prefix: saved(ds, prefix, "GZIP"),
}


def saved(ds: tf.data.Dataset, prefix: Path | None, compression: str | None) -> tf.data.Dataset:
    """``ds`` written with ``Dataset.save`` (now: the write is a pass of its own) and read back with
    ``Dataset.load``, as a user who preprocesses once and trains many times does. ``Dataset.load`` reads the
    saved metadata when it is built, so the write cannot wait for the first epoch (``CacheSpec.writes_ahead``).

    A save that finished earlier at ``prefix`` (in this process or another) is loaded, not written again: the
    marker ``<prefix>.complete`` is written only after ``save`` returns, so an interrupted save is redone.
    """
    path = Path(str(prefix))
    complete = path.with_name(path.name + ".complete")
    if not complete.exists():
        ds.save(str(path), compression=compression)
        complete.write_text(compression or "none")
    return tf.data.Dataset.load(str(path), element_spec=ds.element_spec, compression=compression)


def apply_cache(ds: tf.data.Dataset, contract: Contract, cache_prefix: Path | None) -> tf.data.Dataset:
    """``ds`` cached as ``contract.cache`` says (unchanged for a mode that caches nothing)."""
    return CACHE_OPS[contract.cache](ds, cache_prefix) if contract.cache_spec.caches else ds


def shuffle_buffer(contract: Contract, elements: int) -> int:
    """The shuffle buffer after a cache: the contract's, but never more than the elements there are."""
    return max(1, min(contract.shuffle_buffer, elements))


def finish_pipeline(
    images_and_labels: tf.data.Dataset,
    contract: Contract,
    num_classes: int,
    images: int,
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
    ds = apply_cache(ds, contract, cache_prefix)
    if contract.shuffle and (contract.cache_spec.caches or not shuffled_upstream):
        ds = ds.shuffle(shuffle_buffer(contract, images), seed=contract.seed, reshuffle_each_iteration=True)
    ds = ds.batch(contract.batch_size, num_parallel_calls=calls, deterministic=deterministic)
    if contract.placement == "uint8":
        def finalise(x, y):
            return normalise(x), encode_labels(y, contract, num_classes)
    else:
        def finalise(x, y):
            return x, encode_labels(y, contract, num_classes)
    ds = ds.map(finalise, num_parallel_calls=calls, deterministic=deterministic)
    return ds.prefetch(tf.data.AUTOTUNE)
