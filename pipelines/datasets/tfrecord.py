"""Convert a class-per-folder image tree to sharded TFRecord files, and open them again with every check done.

Why this exists: the TFRecord loader times what most large-scale TensorFlow input pipelines read, a few large
files of serialized examples rather than a hundred thousand small JPEGs. Its timings only mean something if it
reads the same images as the folder loaders. So the converter copies the dataset's bytes and labels unchanged
(no re-encoding: the same JPEG decode gives the same pixels) and writes them in an order the loader can read
back as the folder's own order. It is also written to be run on an 18 GB dataset by a user who will press
Ctrl-C halfway:

* Record format: a ``tf.train.Example`` per image with ``image/encoded`` (the file's bytes, unchanged),
  ``image/class/label`` (int64: the index into the class names) and ``image/filename`` (the path relative to
  the dataset folder, for error messages).
* Sharding: image ``i`` of the :class:`~pipelines.datasets.validate.DatasetIndex` goes to shard
  ``i % shards``, so each shard holds an even stride of the whole dataset (every class, where a class has at
  least as many images as there are shards), and reading the shards round-robin, one record from each in turn
  (``interleave`` with ``cycle_length=shards, block_length=1``, deterministic), gives back exactly the index
  order: how the loader matches the folder loaders bit for bit.
* Deterministic: the same source gives byte-identical shards (serialization with sorted map keys; nothing
  machine- or time-dependent is written into a record; the default shard count depends on the data alone).
* A source digest (sha256 of the class names, and of every file's relative path, label, size and mtime_ns)
  names the shards (``train-<digest12>-00003-of-00008.tfrecord``) and their default folder. Hashing the
  contents of 18 GB would take minutes on every run; size and mtime are the trade ``make`` and ``rsync``
  make, and a file rewritten in place without a size change inside the same clock tick is the only change it
  misses.
* Safe to interrupt and rerun: each shard is written to a temporary name and renamed, so a shard with its final
  name is whole; a rerun writes only the shards missing (or failing the checksum an older manifest recorded),
  and removes temporary files and the shards of other digests or shard counts in that folder -- only files that
  match our own naming pattern, never anything else. The manifest ``tfrecord.json`` is written last
  (atomically): a folder without one is an unfinished conversion.
* Validated: the source is a checked index; every shard's record count is checked against the plan once
  written, and :func:`open_tfrecords` checks the manifest, every shard's size (cheap) and sha256 (once per
  process and file version) before a loader reads a byte, so a damaged shard is reported by name.

Command line: ``python -m pipelines.datasets.tfrecord SRC [OUT] [--shards N]``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import re
import struct
import sys
import threading
import warnings
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tqdm import tqdm

from pipelines.config import default_data_root
from pipelines.datasets.manifest import temporary_name, write_json_atomically
from pipelines.datasets.validate import DatasetError, DatasetIndex, index_dataset
from pipelines.ownership import Claim, marker_text, names_tool, remove_made
from pipelines.units import format_bytes

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
_SHARD_PATTERN = re.compile(r"^\.?" + SPLIT + r"-[0-9a-f]{12}-\d{5}-of-\d{5}\.tfrecord(\.tmp)?$")
_MANIFEST_TEMPORARY = temporary_name(Path(MANIFEST_NAME)).name
_LOCK_NAME = ".tfrecord.lock"
_LOCK_KIND = "tfrecord"


def _owned(relative: Path) -> bool:
    """The names the converter writes in a shard folder: shards, their temporary names, the manifest and its
    temporary name."""
    return len(relative.parts) == 1 and (relative.name in (MANIFEST_NAME, _MANIFEST_TEMPORARY)
                                          or _SHARD_PATTERN.match(relative.name) is not None)


#: A shard folder: its lock file names the converter (written the first time it converts there).
_CLAIM = Claim("a TFRecord shard folder", _LOCK_NAME, lambda path: names_tool(path, _LOCK_KIND), _owned)
_READ_CHUNK = 1 << 20


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


class ShardsRewrittenWarning(UserWarning):
    """:func:`ensure_tfrecords` wrote shards (or the manifest) again where a conversion was already: which, and
    why. A warning, so that a benchmark run, which converts on first use inside a case, lists it in its summary."""


def default_shards(images: int, total_bytes: int) -> int:
    """``min(images, max(8, ceil(bytes / 128 MB)))``: about 128 MB a shard, at least 8 shards so the parallel
    interleave has inputs to read from at once, never an empty shard. Depends on the data alone, never on the
    machine, so two machines write byte-identical shards."""
    wanted = max(MIN_SHARDS, math.ceil(total_bytes / SHARD_TARGET_BYTES))
    return max(1, min(images, wanted, MAX_SHARDS))


def source_digest(index: DatasetIndex) -> str:
    """Hex sha256 over the format version, class names, and every file's relative path, label, size, mtime_ns."""
    return _plan_sources(index)[0]


def shard_name(digest: str, shard: int, shards: int) -> str:
    return f"{SPLIT}-{digest[:_DIGEST_SHOWN]}-{shard:05d}-of-{shards:05d}.tfrecord"


def tfrecord_folder(index: DatasetIndex, root: Path | str | None = None) -> Path:
    """``<root>/_tfrecord/<dataset name>-<digest12>``, ``root`` defaulting to
    :func:`~pipelines.config.default_data_root` (``$LOADERBENCH_DATA``, read now): never in the dataset folder."""
    return _folder(index, root, source_digest(index))


def _folder(index: DatasetIndex, root: Path | str | None, digest: str) -> Path:
    base = Path(root).expanduser() if root is not None else default_data_root()
    return base / "_tfrecord" / f"{index.name}-{digest[:_DIGEST_SHOWN]}"


def convert(index: DatasetIndex, folder: Path | str, shards: int | None = None, progress: bool = True,
            workers: int | None = None) -> TFRecordSet:
    """Write ``index`` as TFRecord shards in ``folder`` (completing an interrupted conversion), then the manifest.

    ``shards``: :func:`default_shards` when ``None``. ``workers``: shards written at once (threads; default one
    per core, at most one per shard): reading the source files is the work, and it waits on the disk.
    """
    folder = _output_folder(index, folder)
    with _locked(folder):
        return _convert(index, folder, shards, progress, workers)


def ensure_tfrecords(index: DatasetIndex, root: Path | str | None = None, progress: bool = True) -> TFRecordSet:
    """The shards of ``index`` in :func:`tfrecord_folder`: reused when their manifest is of the same source and
    every shard checks out, else converted (writing only the shards missing or damaged). Shards written again
    where a conversion was already, or a manifest written again over kept shards, are named with the reason in a
    :class:`ShardsRewrittenWarning` (a first conversion has its progress bar)."""
    digest = source_digest(index)
    folder = _output_folder(index, _folder(index, root, digest))
    with _locked(folder):
        try:
            found, problem = open_tfrecords(folder), ""
        except DatasetError as error:
            found, problem = None, str(error).split(" -- ")[0]
        if found is not None and found.digest == digest and found.class_names == index.class_names \
                and found.images == index.images:
            return found
        made = _convert(index, folder, None, progress, None)
    if made.rewritten:
        warnings.warn(rewritten_line(made), ShardsRewrittenWarning, stacklevel=2)
    elif not made.written and problem:  # every shard checked and kept: only the manifest was missing or damaged
        warnings.warn(f"TFRecord manifest written again in {folder} ({problem}); all {len(made.shards)} shards "
                      "checked and kept", ShardsRewrittenWarning, stacklevel=2)
    return made


def rewritten_line(made: TFRecordSet, shown: int = 10) -> str:
    """One line: the shards ``made`` wrote again in its folder, grouped by why (``shown`` names each, then a
    count)."""
    by_reason: dict[str, list[str]] = {}
    for name, why in made.rewritten:
        by_reason.setdefault(why, []).append(name)
    groups = [f"{why}: {', '.join(names[:shown])}" + (f" and {len(names) - shown:,} more" if len(names) > shown
                                                     else "") for why, names in by_reason.items()]
    return (f"{len(made.rewritten)} of {len(made.shards)} TFRecord shards written again in {made.folder} -- "
            + "; ".join(groups))


def open_tfrecords(folder: Path | str) -> TFRecordSet:
    """The shard set in ``folder``, checked: the manifest is there and readable, every shard is there with the
    size it records, and each shard's sha256 matches (read once per process and file version). Any problem is a
    :class:`DatasetError` naming the file and the command that repairs it."""
    folder = Path(folder).expanduser()
    manifest = _read_manifest(folder)
    source = Path(manifest["source"])
    shards = []
    for entry in manifest["shards"]:
        path = folder / entry["name"]
        try:
            stat = path.stat()
        except FileNotFoundError:
            raise DatasetError(f"TFRecord shard missing: {path} -- {_repair(source, folder)}") from None
        if stat.st_size != entry["bytes"]:
            raise DatasetError(f"TFRecord shard truncated or changed: {path} is {stat.st_size:,} bytes, its manifest "
                               f"says {entry['bytes']:,} -- {_repair(source, folder)}")
        if _sha256(path, stat) != entry["sha256"]:
            raise DatasetError(f"corrupt TFRecord shard: {path} (its sha256 differs from the one in {MANIFEST_NAME}) "
                               f"-- {_repair(source, folder)}")
        shards.append(path)
    return TFRecordSet(folder, tuple(shards), manifest["images"], tuple(manifest["class_names"]),
                       sum(entry["bytes"] for entry in manifest["shards"]), manifest["digest"], source)


def count_records(path: Path) -> int:
    """Records in a TFRecord file, from its framing alone (8-byte length, 4-byte CRC, data, 4-byte CRC);
    a :class:`DatasetError` naming the file if it ends inside a record."""
    records = _hash_and_count(path)[1]
    if records is None:
        raise DatasetError(f"TFRecord shard ends inside a record: {path} -- it was truncated or damaged; "
                           f"{_repair(None, path.parent)}")
    return records


# ----------------------------------------------------------------------------------------------- conversion


@dataclass(frozen=True)
class _Shard:
    number: int
    path: Path
    members: tuple[int, ...]  # positions in the index


def _convert(index: DatasetIndex, folder: Path, shards: int | None, progress: bool,
             workers: int | None) -> TFRecordSet:
    if not index.images:
        raise DatasetError(f"no images to convert in {index.root}")
    count = default_shards(index.images, index.bytes) if shards is None else shards
    if not 1 <= count <= min(index.images, MAX_SHARDS):
        raise ValueError(f"shards must be between 1 and {min(index.images, MAX_SHARDS):,} "
                         f"(the images in {index.root}), got {count}")
    digest, relative, sizes = _plan_sources(index)
    plan = [_Shard(s, folder / shard_name(digest, s, count), tuple(range(s, index.images, count)))
            for s in range(count)]

    # What an older manifest of this very plan recorded: a shard failing its checksum is written again.
    known = _known_shards(folder, digest)
    planned = {shard.path.name for shard in plan}
    missing_why = _missing_reason(folder, digest, planned)  # before the manifest goes
    # The manifest (from here on, an unfinished conversion), a temporary file of an interrupted run, a shard of
    # another plan: only our own names, never a link.
    stale = [Path(entry.path) for entry in os.scandir(folder)
             if entry.is_file(follow_symlinks=False) and _owned(Path(entry.name)) and entry.name not in planned]
    remove_made(folder, _CLAIM, files=sorted(stale, key=lambda path: path.name != MANIFEST_NAME))  # manifest first

    bar = tqdm(total=index.images, desc=f"converting {index.name} to TFRecord", unit="img",
               disable=not progress or None)
    lock = threading.Lock()

    def advance(images: int) -> None:
        with lock:
            bar.update(images)

    results: dict[int, tuple[int, str]] = {}
    todo = []
    why: dict[str, str] = {}  # shard name -> why it is written
    with bar:
        for shard in plan:
            kept, why[shard.path.name] = _existing(shard, known.get(shard.path.name))
            if kept is None:
                todo.append(shard)
            else:
                results[shard.number] = kept
                advance(len(shard.members))
        threads = max(1, min(len(todo), workers or os.cpu_count() or 1))
        job = lambda shard: _write_shard(shard, index, relative, sizes, advance)  # noqa: E731
        if threads == 1:
            written = [job(shard) for shard in todo]
        else:
            with ThreadPoolExecutor(threads) as pool:
                written = list(pool.map(job, todo))
        results.update({shard.number: result for shard, result in zip(todo, written, strict=True)})

    entries = [{"name": shard.path.name, "records": len(shard.members), "bytes": results[shard.number][0],
                "sha256": results[shard.number][1]} for shard in plan]
    write_json_atomically(folder / MANIFEST_NAME, {
        "format": FORMAT_VERSION,
        "digest": digest,
        "source": str(index.root.resolve()),
        "images": index.images,
        "class_names": list(index.class_names),
        "source_bytes": index.bytes,
        "shards": entries,
    })
    return TFRecordSet(folder, tuple(shard.path for shard in plan), index.images, index.class_names,
                       sum(entry["bytes"] for entry in entries), digest, index.root.resolve(), written=len(todo),
                       rewritten=_rewritten(todo, why, missing_why, len(plan)))


def _plan_sources(index: DatasetIndex) -> tuple[str, tuple[str, ...], tuple[int, ...]]:
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


def _output_folder(index: DatasetIndex, folder: Path | str) -> Path:
    """``folder``, made; refused inside the dataset (it would become a class, and the user's folder is read-only
    to the suite)."""
    folder = Path(folder).expanduser()
    source = index.root.expanduser().resolve()
    if folder.resolve() == source or source in folder.resolve().parents:
        raise DatasetError(f"TFRecord folder {folder} is inside the dataset {index.root} -- choose a folder "
                           "outside it (the suite never writes into a dataset folder)")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _known_shards(folder: Path, digest: str) -> dict[str, dict[str, Any]]:
    try:
        manifest = _read_manifest(folder)
    except DatasetError:
        return {}
    return {entry["name"]: entry for entry in manifest["shards"]} if manifest["digest"] == digest else {}


#: Why a planned shard absent from its folder is written (the manifest may say more: :func:`_missing_reason`).
_MISSING = "missing"


def _missing_reason(folder: Path, digest: str, planned: set[str]) -> str | None:
    """What a planned shard absent from ``folder`` means, from the manifest there: ``None`` with no manifest (a
    first conversion, or an interrupted one), ``missing`` where it lists the same shards, else why the plan
    changed."""
    if not (folder / MANIFEST_NAME).exists():
        return None
    try:
        manifest = _read_manifest(folder)
    except DatasetError:
        return "missing (the manifest was damaged or of an older format)"
    if manifest["digest"] != digest:
        return "other plan (the dataset changed since the last conversion)"
    if {entry["name"] for entry in manifest["shards"]} != planned:
        return f"other plan (the last conversion wrote {len(manifest['shards'])} shards)"
    return _MISSING


def _rewritten(todo: list[_Shard], why: dict[str, str], missing_why: str | None,
               planned: int) -> tuple[tuple[str, str], ...]:
    """``(name, why)`` of the shards written again; nothing for a first conversion (no manifest, no shard)."""
    if missing_why is None and len(todo) == planned and all(why[s.path.name] == _MISSING for s in todo):
        return ()
    missing = missing_why or "missing (the last conversion was interrupted)"
    return tuple((s.path.name, missing if why[s.path.name] == _MISSING else why[s.path.name]) for s in todo)


def _existing(shard: _Shard, known: dict[str, Any] | None) -> tuple[tuple[int, str] | None, str]:
    """``((bytes, sha256), "")`` of a complete shard already there (its final name says it was whole when
    renamed), or ``(None, why)`` if it must be written: missing, short of records, or not what an older manifest
    recorded."""
    try:
        stat = shard.path.stat()
    except FileNotFoundError:
        return None, _MISSING
    if known is not None and known["bytes"] != stat.st_size:
        return None, f"size differs ({stat.st_size:,} bytes, the manifest recorded {known['bytes']:,})"
    sha, records = _hash_and_count(shard.path, stat)
    if records is None:
        return None, "ends inside a record (truncated or damaged)"
    if records != len(shard.members):
        return None, f"holds {records:,} records, not {len(shard.members):,}"
    if known is not None and known["sha256"] != sha:
        return None, f"checksum differs (its sha256 is not the one {MANIFEST_NAME} recorded)"
    _remember(shard.path, stat, sha)
    return (stat.st_size, sha), ""


def _write_shard(shard: _Shard, index: DatasetIndex, relative: tuple[str, ...], sizes: tuple[int, ...],
                 advance) -> tuple[int, str]:
    """Write ``shard`` under a temporary name, check its record count, rename it; ``(bytes, sha256)``."""
    import tensorflow as tf  # here: opening a checked shard set needs no TensorFlow

    temporary = shard.path.with_name(f".{shard.path.name}.tmp")
    try:
        with tf.io.TFRecordWriter(str(temporary)) as writer:
            for position in shard.members:
                writer.write(_example(index, position, relative, sizes))
                advance(1)
        sha, records = _hash_and_count(temporary)
        if records != len(shard.members):
            raise DatasetError(f"TFRecord shard {shard.path} holds {records} records once written, not "
                               f"{len(shard.members)} -- is the disk full? Free space and run again")
        os.replace(temporary, shard.path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    stat = shard.path.stat()
    _remember(shard.path, stat, sha)  # read back from disk just now: the loader's check need not read it again
    return stat.st_size, sha


def _example(index: DatasetIndex, position: int, relative: tuple[str, ...], sizes: tuple[int, ...]) -> bytes:
    import tensorflow as tf

    path = index.paths[position]
    data = _read_source(path)
    if len(data) != sizes[position]:
        raise DatasetError(f"{path} changed while it was converted ({sizes[position]:,} bytes, now {len(data):,}) "
                           "-- run again once the dataset is left alone")
    feature = {
        ENCODED_KEY: tf.train.Feature(bytes_list=tf.train.BytesList(value=[data])),
        LABEL_KEY: tf.train.Feature(int64_list=tf.train.Int64List(value=[index.labels[position]])),
        FILENAME_KEY: tf.train.Feature(bytes_list=tf.train.BytesList(value=[relative[position].encode()])),
    }
    # deterministic: map entries in key order, so equal sources give equal bytes.
    return tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString(deterministic=True)


def _read_source(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as error:
        raise DatasetError(f"cannot read {path} ({error.strerror}) -- the dataset changed since it was "
                           "checked; run again") from None


@contextmanager
def _locked(folder: Path) -> Iterator[None]:
    """One converter per folder at a time (two benchmark processes may ask for the same shards at once): the
    second waits, then finds them complete. No lock where ``fcntl`` is missing (Windows). The lock file is also
    the marker that the suite converts into this folder (written the first time), which lets it remove its own
    stale shards there."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover -- not on Linux or macOS
        fcntl = None
    with open(folder / _LOCK_NAME, "a") as handle:
        if fcntl is not None:
            fcntl.flock(handle, fcntl.LOCK_EX)
        if handle.tell() == 0:
            handle.write(marker_text(_LOCK_KIND))
            handle.flush()
        try:
            yield
        finally:
            if fcntl is not None:
                fcntl.flock(handle, fcntl.LOCK_UN)


# ----------------------------------------------------------------------------------------------- checking

#: sha256 of files already read by this process, by (path, inode, size, mtime_ns): cold epochs build a fresh
#: pipeline every epoch, and 18 GB are not re-read for each.
_SHA256_MEMO: dict[tuple[str, int, int, int], str] = {}


def _memo_key(path: Path, stat: os.stat_result) -> tuple[str, int, int, int]:
    return str(path), stat.st_ino, stat.st_size, stat.st_mtime_ns


def _sha256(path: Path, stat: os.stat_result) -> str:
    key = _memo_key(path, stat)
    if key not in _SHA256_MEMO:
        _SHA256_MEMO[key] = _hash_and_count(path, stat)[0]
    return _SHA256_MEMO[key]


def _remember(path: Path, stat: os.stat_result, sha: str) -> None:
    _SHA256_MEMO[_memo_key(path, stat)] = sha


def _hash_and_count(path: Path, stat: os.stat_result | None = None) -> tuple[str, int | None]:
    """sha256 and record count of a TFRecord file, in one read: walk the framing (8-byte length, 4-byte CRC of
    it, the data, 4-byte CRC of that), hashing every byte read. The count is ``None`` when the file ends inside
    a record (truncated, or a damaged length)."""
    digest = hashlib.sha256()
    records: int | None = 0
    size = 0
    with open(path, "rb", buffering=_READ_CHUNK) as handle:
        while header := handle.read(12):
            digest.update(header)
            size += len(header)
            remaining = struct.unpack("<Q", header[:8])[0] + 4 if len(header) == 12 else 0
            while remaining and (chunk := handle.read(min(remaining, _READ_CHUNK))):
                digest.update(chunk)
                size += len(chunk)
                remaining -= len(chunk)
            if len(header) < 12 or remaining:
                records = None
                rest = handle.read()  # the hash is of the whole file, framing or not
                digest.update(rest)
                size += len(rest)
                break
            records += 1
    if stat is not None and size != stat.st_size:
        raise DatasetError(f"TFRecord shard changed while it was read: {path} -- run again")
    return digest.hexdigest(), records


def _read_manifest(folder: Path) -> dict[str, Any]:
    path = folder / MANIFEST_NAME
    if not path.exists():
        raise DatasetError(f"no TFRecord manifest {path}: the conversion never finished, or {folder} holds no "
                           f"TFRecord shards -- {_repair(None, folder)}")
    try:
        manifest = json.loads(path.read_text())
        shards = manifest["shards"]
        ok = (manifest["format"] == FORMAT_VERSION and isinstance(manifest["digest"], str)
              and isinstance(manifest["images"], int) and isinstance(manifest["class_names"], list)
              and isinstance(manifest["source"], str) and isinstance(shards, list) and shards
              and all(_SHARD_PATTERN.match(entry["name"]) and not entry["name"].startswith(".")
                      and isinstance(entry["bytes"], int) and isinstance(entry["sha256"], str) for entry in shards)
              and sum(entry["records"] for entry in shards) == manifest["images"])
    except (OSError, ValueError, KeyError, TypeError):
        ok = False
    if not ok:
        raise DatasetError(f"damaged or outdated TFRecord manifest {path} -- {_repair(None, folder)}")
    return manifest


def _repair(source: Path | None, folder: Path) -> str:
    src = str(source) if source is not None else "<dataset folder>"
    return (f"convert again: `python -m pipelines.datasets.tfrecord {src} {folder}` (writes only the shards "
            "missing or damaged)")


# ----------------------------------------------------------------------------------------------- command line


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m pipelines.datasets.tfrecord",
        description="Convert a class-per-folder image tree to sharded TFRecord files (resumable: run it again "
                    "after an interruption).")
    parser.add_argument("source", type=Path, help="the dataset: <source>/<class>/<image files>")
    parser.add_argument("out", type=Path, nargs="?",
                        help=f"folder to write (default: {default_data_root()}/_tfrecord/<name>-<digest>, where "
                             "the tfrecord loader looks)")
    parser.add_argument("--shards", type=int,
                        help=f"shard count (default: about {format_bytes(SHARD_TARGET_BYTES)} each, at least "
                             f"{MIN_SHARDS}, at most one per image)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    args = parser.parse_args(argv)
    try:
        index = index_dataset(args.source)
        folder = args.out if args.out is not None else tfrecord_folder(index)
        made = convert(index, folder, shards=args.shards, progress=not args.no_progress)
    except (DatasetError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    if made.rewritten:
        print(rewritten_line(made))
    verb = f"wrote {made.written} of {len(made.shards)} shards" if made.written else \
        f"reused all {len(made.shards)} shards"
    print(f"{verb}: {made.images:,} images in {len(made.class_names)} classes, {format_bytes(made.bytes)} of "
          f"TFRecords for {format_bytes(index.bytes)} of image files, in {made.folder}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
