"""What a TFRecord shard set is on disk -- records, shard names, the manifest -- and opening one with every check.

* Record format: a ``tf.train.Example`` per image with ``image/encoded`` (the file's bytes, unchanged),
  ``image/class/label`` (int64: the index into the class names) and ``image/filename`` (the path relative to
  the dataset folder, for error messages).
* Sharding: image ``i`` of the :class:`~pipelines.datasets.validate.DatasetIndex` goes to shard
  ``i % shards``, so each shard holds an even stride of the whole dataset (every class, where a class has at
  least as many images as there are shards), and reading the shards round-robin, one record from each in turn
  (``interleave`` with ``cycle_length=shards, block_length=1``, deterministic), gives back exactly the index
  order: how the loader matches the folder loaders bit for bit. The default shard count depends on the data
  alone, so two machines write byte-identical shards.
* A source digest (sha256 of the class names, and of every file's relative path, label, size and mtime_ns)
  names the shards (``train-<digest12>-00003-of-00008.tfrecord``) and their default folder. Hashing the
  contents of 18 GB would take minutes on every run; size and mtime are the trade ``make`` and ``rsync``
  make, and a file rewritten in place without a size change inside the same clock tick is the only change it
  misses.
* The manifest ``tfrecord.json`` is written last: a folder without one is an unfinished conversion.
  :func:`open_tfrecords` checks it, every shard's size (cheap) and sha256 (once per process and file version:
  :mod:`~pipelines.datasets.shards.digests`) before a loader reads a byte, so a damaged shard is reported by name.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pipelines.datasets.presets import default_data_root
from pipelines.datasets.shards.digests import hash_and_count, known_sha256
from pipelines.datasets.validate import DatasetError, DatasetIndex

#: The feature keys of a record (the loader parses these).
ENCODED_KEY = "image/encoded"
LABEL_KEY = "image/class/label"
FILENAME_KEY = "image/filename"

#: The manifest written last; its presence means every shard it lists was complete.
MANIFEST_NAME = "tfrecord.json"
#: Bumped whenever a record's content or the shard layout changes: older folders are then converted again.
FORMAT_VERSION = 1
#: Shard file name prefix (one split: the suite trains on whole folders).
SPLIT = "train"

#: Default shards aim at this many bytes each (decimal, as the suite reports sizes). The TensorFlow guide's
#: 100-200 MB: large enough for sequential reads and few open files, small enough to spread over readers.
SHARD_TARGET_BYTES = 128 * 1000**2
#: Default shards are never fewer than this (unless there are fewer images): the loader reads one shard per
#: interleave input, so a 200 MB dataset in two shards would leave the parallel reads with two inputs.
MIN_SHARDS = 8
#: Five digits in a shard's name.
MAX_SHARDS = 99_999

_DIGEST_SHOWN = 12
#: A shard's name, or its temporary name while it is written (a leading dot, ``.tmp``).
SHARD_PATTERN = re.compile(r"^\.?" + SPLIT + r"-[0-9a-f]{12}-\d{5}-of-\d{5}\.tfrecord(\.tmp)?$")


@dataclass(frozen=True)
class TFRecordSet:
    """A complete, checked set of TFRecord shards.

    Attributes:
        folder: where the shards and their manifest are.
        shards: shard files, in shard order (image ``i`` is in ``shards[i % len(shards)]``).
        images: records in all shards.
        class_names: label ``k`` is ``class_names[k]``.
        bytes: total size of the shards.
        digest: the source digest (hex sha256) they were converted from.
        source: the dataset folder they were converted from.
        written: shards written by the call that returned this (0: all reused or only opened).
        rewritten: ``(shard name, why)`` for each shard that call wrote again in a folder that held a conversion
            already (missing, size or record count differs, checksum differs, another plan); empty for a first
            conversion, and for a set all reused or only opened.
    """

    folder: Path
    shards: tuple[Path, ...]
    images: int
    class_names: tuple[str, ...]
    bytes: int
    digest: str
    source: Path | None = None
    written: int = 0
    rewritten: tuple[tuple[str, str], ...] = ()


def default_shards(images: int, total_bytes: int) -> int:
    """``min(images, max(8, ceil(bytes / 128 MB)))``: about 128 MB a shard, at least 8 shards so the parallel
    interleave has inputs to read from at once, never an empty shard. Depends on the data alone, never on the
    machine, so two machines write byte-identical shards."""
    wanted = max(MIN_SHARDS, math.ceil(total_bytes / SHARD_TARGET_BYTES))
    return max(1, min(images, wanted, MAX_SHARDS))


def source_digest(index: DatasetIndex) -> str:
    """Hex sha256 over the format version, class names, and every file's relative path, label, size, mtime_ns."""
    return plan_sources(index)[0]


def plan_sources(index: DatasetIndex) -> tuple[str, tuple[str, ...], tuple[int, ...]]:
    """The source digest, each file's path relative to the dataset folder, and each file's size now."""
    digest = hashlib.sha256(f"loaderbench-tfrecord {FORMAT_VERSION}\n".encode())
    digest.update(json.dumps(list(index.class_names)).encode() + b"\n")
    relative, sizes = [], []
    for path, label in zip(index.paths, index.labels, strict=True):
        try:
            stat = path.stat()
        except OSError as error:
            raise DatasetError(f"cannot read {path} ({error.strerror}) -- the dataset changed since it was "
                               "checked; run again") from None
        name = path.relative_to(index.root).as_posix()
        digest.update(f"{name}\0{label}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode())
        relative.append(name)
        sizes.append(stat.st_size)
    return digest.hexdigest(), tuple(relative), tuple(sizes)


def shard_name(digest: str, shard: int, shards: int) -> str:
    return f"{SPLIT}-{digest[:_DIGEST_SHOWN]}-{shard:05d}-of-{shards:05d}.tfrecord"


def tfrecord_folder(index: DatasetIndex, root: Path | str | None = None) -> Path:
    """``<root>/_tfrecord/<dataset name>-<digest12>``, ``root`` defaulting to
    :func:`~pipelines.datasets.presets.default_data_root` (``$LOADERBENCH_DATA``, read now): never in the dataset
    folder."""
    return digest_folder(index, root, source_digest(index))


def digest_folder(index: DatasetIndex, root: Path | str | None, digest: str) -> Path:
    """:func:`tfrecord_folder` for a source digest already computed."""
    base = Path(root).expanduser() if root is not None else default_data_root()
    return base / "_tfrecord" / f"{index.name}-{digest[:_DIGEST_SHOWN]}"


def open_tfrecords(folder: Path | str) -> TFRecordSet:
    """The shard set in ``folder``, checked: the manifest is there and readable, every shard is there with the
    size it records, and each shard's sha256 matches (read once per process and file version). Any problem is a
    :class:`DatasetError` naming the file and the command that repairs it."""
    folder = Path(folder).expanduser()
    manifest = read_manifest(folder)
    source = Path(manifest["source"])
    shards = []
    for entry in manifest["shards"]:
        path = folder / entry["name"]
        try:
            stat = path.stat()
        except FileNotFoundError:
            raise DatasetError(f"TFRecord shard missing: {path} -- {repair_hint(source, folder)}") from None
        if stat.st_size != entry["bytes"]:
            raise DatasetError(f"TFRecord shard truncated or changed: {path} is {stat.st_size:,} bytes, its manifest "
                               f"says {entry['bytes']:,} -- {repair_hint(source, folder)}")
        if known_sha256(path, stat) != entry["sha256"]:
            raise DatasetError(f"corrupt TFRecord shard: {path} (its sha256 differs from the one in {MANIFEST_NAME}) "
                               f"-- {repair_hint(source, folder)}")
        shards.append(path)
    return TFRecordSet(folder, tuple(shards), manifest["images"], tuple(manifest["class_names"]),
                       sum(entry["bytes"] for entry in manifest["shards"]), manifest["digest"], source)


def count_records(path: Path) -> int:
    """Records in a TFRecord file, from its framing alone (8-byte length, 4-byte CRC, data, 4-byte CRC);
    a :class:`DatasetError` naming the file if it ends inside a record."""
    records = hash_and_count(path)[1]
    if records is None:
        raise DatasetError(f"TFRecord shard ends inside a record: {path} -- it was truncated or damaged; "
                           f"{repair_hint(None, path.parent)}")
    return records


def read_manifest(folder: Path) -> dict[str, Any]:
    """``folder``'s manifest, every field checked (a shard name outside the folder included), or a
    :class:`DatasetError` that says it is missing or damaged."""
    path = folder / MANIFEST_NAME
    if not path.exists():
        raise DatasetError(f"no TFRecord manifest {path}: the conversion never finished, or {folder} holds no "
                           f"TFRecord shards -- {repair_hint(None, folder)}")
    try:
        manifest = json.loads(path.read_text())
        shards = manifest["shards"]
        ok = (manifest["format"] == FORMAT_VERSION and isinstance(manifest["digest"], str)
              and isinstance(manifest["images"], int) and isinstance(manifest["class_names"], list)
              and isinstance(manifest["source"], str) and isinstance(shards, list) and shards
              and all(SHARD_PATTERN.match(entry["name"]) and not entry["name"].startswith(".")
                      and isinstance(entry["bytes"], int) and isinstance(entry["sha256"], str) for entry in shards)
              and sum(entry["records"] for entry in shards) == manifest["images"])
    except (OSError, ValueError, KeyError, TypeError):
        ok = False
    if not ok:
        raise DatasetError(f"damaged or outdated TFRecord manifest {path} -- {repair_hint(None, folder)}")
    return manifest


def repair_hint(source: Path | None, folder: Path) -> str:
    """The command that converts ``source`` into ``folder`` again, writing only what is missing or damaged."""
    src = str(source) if source is not None else "<dataset folder>"
    return (f"convert again: `python -m pipelines.datasets.shards {src} {folder}` (writes only the shards "
            "missing or damaged)")
