"""``tf.data`` from files: the pipeline the study recommends, built as well as tf.data allows."""

from __future__ import annotations

from functools import lru_cache, partial
from pathlib import Path

import tensorflow as tf
from PIL import Image

from pipelines.loaders.contract import Contract
from pipelines.datasets import DatasetIndex
from pipelines.loaders.tfops import (
    decode_resized,
    decode_resized_at,
    decode_resized_fast,
    dct_ratio,
    finish_pipeline,
    parallel_calls,
)
from pipelines.loaders.seeded import Decode, extra_pass_flags, seeded_fraction, with_extra_pass


def build_tfdata_pipeline(index: DatasetIndex, contract: Contract, cache_prefix: Path | None) -> tf.data.Dataset:
    """File list (from the checked index, in Keras' order) -> parallel read/decode/resize -> shared tail.

    The file list comes from :class:`DatasetIndex` rather than ``Dataset.list_files``: the folder was already
    walked once to check it, and ``list_files`` would glob it again and shuffle it by default.
    """
    return _build(index, contract, cache_prefix, decode_resized, seeded_fraction("tfdata"))


def _build(index: DatasetIndex, contract: Contract, cache_prefix: Path | None, decode: Decode,
           seeded: float) -> tf.data.Dataset:
    """The pipeline with ``decode``; ``seeded``: the share of images decoded twice (a seeded regression,
    :mod:`pipelines.loaders.seeded`), 0 in every normal run."""
    columns: tuple = (tf.constant([str(p) for p in index.paths]), tf.constant(index.labels, dtype=tf.int32))
    if seeded:
        columns += (tf.constant(extra_pass_flags(index.images, seeded)),)
        load_seeded = with_extra_pass(decode)

        def load(path, label, extra):
            return load_seeded(path, label, extra, contract)
    else:
        def load(path, label):
            return decode(path, contract), label
    files = tf.data.Dataset.from_tensor_slices(columns)
    shuffle_names = contract.shuffle and not contract.cache_spec.caches
    if shuffle_names:
        # Nothing cached: shuffle the file names (a few bytes each) over the whole dataset, every epoch.
        files = files.shuffle(index.images, seed=contract.seed, reshuffle_each_iteration=True)
    images = files.map(load, num_parallel_calls=parallel_calls(contract), deterministic=not contract.shuffle)
    return finish_pipeline(images, contract, len(index.class_names), index.images, cache_prefix,
                           shuffled_upstream=shuffle_names)


def build_tfdata_fast_pipeline(index: DatasetIndex, contract: Contract,
                               cache_prefix: Path | None) -> tf.data.Dataset:
    """The same pipeline with the fast decode: DCT-domain downscaling (see
    :func:`~pipelines.loaders.tfops.decode_resized_fast`); what an expert takes when the pixels allow it.

    The per-image header read and branch are a cost of their own on small sources, where no ratio applies, so
    the ratios are read from the JPEG headers once per dataset: none applies -> the exact decode;
    one ratio for every JPEG -> a decode at that ratio with no branch; a mix (or non-JPEG files) -> per image.
    """
    ratios = dct_ratios(index.paths, contract.image_size)
    if ratios == {1}:
        decode = decode_resized
    elif len(ratios) == 1 and None not in ratios:
        decode = partial(decode_resized_at, ratio=next(iter(ratios)))
    else:
        decode = decode_resized_fast
    return _build(index, contract, cache_prefix, decode, seeded_fraction("tfdata-fast"))


@lru_cache(maxsize=8)
def dct_ratios(paths: tuple[Path, ...], image_size: tuple[int, int]) -> frozenset[int | None]:
    """The DCT ratios the fast decode would use on these files (``None`` for a file that is not a JPEG), from
    their headers alone; cached, since cold rounds build a fresh pipeline every epoch."""
    ratios: set[int | None] = set()
    for path in paths:
        with Image.open(path) as image:  # reads the header, not the pixels
            width, height = image.size
            ratios.add(dct_ratio(height, width, image_size) if image.format == "JPEG" else None)
    return frozenset(ratios)
