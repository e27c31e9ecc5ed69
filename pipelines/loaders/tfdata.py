"""``tf.data`` from files: the pipeline the study recommends, built as well as tf.data allows."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import tensorflow as tf

from pipelines.config import Contract
from pipelines.datasets import DatasetIndex
from pipelines.loaders.tfops import decode_resized, decode_resized_fast, finish_pipeline, parallel_calls


def build_tfdata_pipeline(index: DatasetIndex, contract: Contract, cache_prefix: Path | None,
                          decode: Callable[[tf.Tensor, Contract], tf.Tensor] = decode_resized) -> tf.data.Dataset:
    """File list (from the checked index, in Keras' order) -> parallel read/decode/resize -> shared tail.

    The file list comes from :class:`DatasetIndex` rather than ``Dataset.list_files``: the folder was already
    walked once to check it, and ``list_files`` would glob it again and shuffle it by default.
    """
    files = tf.data.Dataset.from_tensor_slices(
        (tf.constant([str(p) for p in index.paths]), tf.constant(index.labels, dtype=tf.int32))
    )
    shuffle_names = contract.shuffle and contract.cache == "none"
    if shuffle_names:
        # Nothing cached: shuffle the file names (a few bytes each) over the whole dataset, every epoch.
        files = files.shuffle(index.images, seed=contract.seed, reshuffle_each_iteration=True)
    images = files.map(
        lambda path, label: (decode(path, contract), label),
        num_parallel_calls=parallel_calls(contract),
        deterministic=not contract.shuffle,
    )
    return finish_pipeline(images, contract, len(index.class_names), index.images, cache_prefix,
                           shuffled_upstream=shuffle_names)


def build_tfdata_fast_pipeline(index: DatasetIndex, contract: Contract,
                               cache_prefix: Path | None) -> tf.data.Dataset:
    """The same pipeline with the fast decode: DCT-domain downscaling and the fast integer DCT (see
    :func:`~pipelines.loaders.tfops.decode_resized_fast`); what an expert takes when the pixels allow it."""
    return build_tfdata_pipeline(index, contract, cache_prefix, decode=decode_resized_fast)
