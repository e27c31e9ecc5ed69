"""A dataset folder as sharded TFRecord files, for the ``tfrecord`` loader: the same images, labels and order as
the folder loaders read, converted once (resumably) and checked every time they are opened.

:mod:`~pipelines.datasets.shards.format` says what a shard set is on disk and opens one with every check;
:mod:`~pipelines.datasets.shards.writer` converts (:mod:`~pipelines.datasets.shards.reuse` decides which shards
already there are kept); :mod:`~pipelines.datasets.shards.digests` keeps the shards' sha256s for the process;
``python -m pipelines.datasets.shards`` (:mod:`~pipelines.datasets.shards.__main__`) is the command line.
"""

from pipelines.datasets.shards.format import (
    ENCODED_KEY, FILENAME_KEY, FORMAT_VERSION, LABEL_KEY, MANIFEST_NAME, MAX_SHARDS, MIN_SHARDS, SHARD_TARGET_BYTES,
    TFRecordSet, count_records, default_shards, open_tfrecords, shard_name, source_digest, tfrecord_folder)
from pipelines.datasets.shards.reuse import rewritten_line
from pipelines.datasets.shards.writer import ShardsRewrittenWarning, convert, ensure_tfrecords

__all__ = [
    "ENCODED_KEY", "FILENAME_KEY", "FORMAT_VERSION", "LABEL_KEY", "MANIFEST_NAME", "MAX_SHARDS", "MIN_SHARDS",
    "SHARD_TARGET_BYTES", "ShardsRewrittenWarning", "TFRecordSet", "convert", "count_records", "default_shards",
    "ensure_tfrecords", "open_tfrecords", "rewritten_line", "shard_name", "source_digest", "tfrecord_folder",
]
