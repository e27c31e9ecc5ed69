"""``tf.data`` from TFRecord shards: the dataset converted once (:mod:`pipelines.datasets.shards`), then read
as a few large files in parallel instead of one small file per image.

The order of steps, and why:

1. the shard file names; with shuffling on and nothing cached, their order is shuffled every epoch (seeded).
   Cheap, and it changes which images arrive together, which the element buffer below cannot do alone.
2. ``interleave`` over the shards, one record from each in turn (``cycle_length`` = every shard,
   ``block_length=1``), reading them in parallel. Without shuffling it is deterministic, and since image ``i``
   is record ``i // shards`` of shard ``i % shards``, it yields exactly the folder loaders' order: the pixels
   and labels are the ``tfdata`` loader's, bit for bit (same bytes, same decode op).
3. with shuffling on and nothing cached, a shuffle buffer of **encoded records** (``Contract.shuffle_buffer``
   of them): a JPEG's bytes each, a tenth of a decoded image, and placed before the decode so that the parallel
   map never waits for a buffer of decoded images to fill (where the buffer holds the whole dataset, the first
   batch comes sooner with records than with decoded images shuffled; warm throughput does not move beyond the
   machine's drift).
4. parse + decode + resize in a parallel ``map``: the expensive part, as for the folder loader, and the same
   :func:`~pipelines.loaders.tfops.decode_bytes_resized`. Records are parsed one at a time: parsing batches of
   64 serialized examples (``batch`` -> ``parse_example`` -> ``unbatch``) was no faster within the noise,
   since parsing costs microseconds a record against a decode of milliseconds.
5. the shared tail (:func:`~pipelines.loaders.tfops.finish_pipeline`): cache, then (with a cache) the element
   shuffle buffer after it, as for every loader; batch, normalise, prefetch.

The builder returns :class:`~pipelines.loaders.pipeline.Built` with the shards as the files an epoch reads, so
that a cold epoch evicts the shards from the page cache rather than the JPEGs it never opens.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import tensorflow as tf

from pipelines.datasets.presets import default_data_root
from pipelines.loaders.contract import Contract
from pipelines.datasets import DatasetIndex
from pipelines.datasets.shards import ENCODED_KEY, LABEL_KEY, ensure_tfrecords, open_tfrecords
from pipelines.loaders.pipeline import Built
from pipelines.loaders.tfops import decode_bytes_resized, finish_pipeline, parallel_calls, shuffle_buffer

_FEATURES = {
    ENCODED_KEY: tf.io.FixedLenFeature([], tf.string),
    LABEL_KEY: tf.io.FixedLenFeature([], tf.int64),
}


def build_tfrecord_pipeline(index: DatasetIndex, contract: Contract, cache_prefix: Path | None) -> Built:
    """Shards of ``index`` (converted on first use, under ``$LOADERBENCH_DATA/_tfrecord``) -> parallel interleave
    -> parallel parse/decode/resize -> shared tail. See the module docstring for the order of steps."""
    records = open_tfrecords(_converted(index, str(default_data_root())))  # cheap after the first: checksums kept
    deterministic = not contract.shuffle
    calls = parallel_calls(contract)
    shards = tf.data.Dataset.from_tensor_slices([str(path) for path in records.shards])
    if contract.shuffle and not contract.cache_spec.caches:
        shards = shards.shuffle(len(records.shards), seed=contract.seed, reshuffle_each_iteration=True)
    serialized = shards.interleave(tf.data.TFRecordDataset, cycle_length=len(records.shards), block_length=1,
                                   num_parallel_calls=calls, deterministic=deterministic)
    # The record count is known from the manifest, not to tf.data: stated (and checked while reading), so that
    # model.fit knows its steps; with an unknown count Keras warns that the input "ran out of data" every epoch.
    serialized = serialized.apply(tf.data.experimental.assert_cardinality(records.images))
    shuffle_records = contract.shuffle and not contract.cache_spec.caches
    if shuffle_records:  # the encoded records (a JPEG's bytes each), not decoded images: see step 3
        serialized = serialized.shuffle(shuffle_buffer(contract, records.images), seed=contract.seed,
                                        reshuffle_each_iteration=True)

    def load(record: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        example = tf.io.parse_single_example(record, _FEATURES)
        return decode_bytes_resized(example[ENCODED_KEY], contract), tf.cast(example[LABEL_KEY], tf.int32)

    images = serialized.map(load, num_parallel_calls=calls, deterministic=deterministic)
    dataset = finish_pipeline(images, contract, len(records.class_names), records.images, cache_prefix,
                              shuffled_upstream=shuffle_records)
    return Built(dataset, records.shards)


@lru_cache(maxsize=8)
def _converted(index: DatasetIndex, data_root: str) -> Path:
    """The shard folder of ``index`` under ``data_root``, converted or reused once per process: cold rounds
    build a fresh pipeline every epoch, and the source digest stats every image file."""
    return ensure_tfrecords(index, root=data_root).folder
