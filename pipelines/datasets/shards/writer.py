"""Convert a class-per-folder image tree to TFRecord shards (:mod:`~pipelines.datasets.shards.format`), resumably.

The TFRecord loader times what most large-scale TensorFlow input pipelines read, a few large files of serialized
examples rather than a hundred thousand small JPEGs. Its timings only mean something if it reads the same images
as the folder loaders, so the converter copies the dataset's bytes and labels unchanged (no re-encoding: the same
JPEG decode gives the same pixels), serialises with sorted map keys and writes nothing machine- or time-dependent
(the same source gives byte-identical shards). It is also written to be run on an 18 GB dataset by a user who
will press Ctrl-C halfway:

* Safe to interrupt and rerun: each shard is written to a temporary name and renamed, so a shard with its final
  name is whole; a rerun writes only the shards missing (or failing the checksum an older manifest recorded),
  and removes temporary files and the shards of other digests or shard counts in that folder -- only files that
  match the converter's own naming pattern, never anything else. The manifest is written last (atomically).
* Validated: the source is a checked index, and every shard's record count is checked against the plan once
  written.
* One converter per folder at a time: two benchmark processes may ask for the same shards at once.
"""

from __future__ import annotations

import os
import threading
import warnings
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from tqdm import tqdm

from pipelines.cleanup.ownership import Claim, marker_text, names_tool, remove_made
from pipelines.datasets.manifest import temporary_name, write_json_atomically
from pipelines.datasets.shards.digests import hash_and_count, remember_sha256
from pipelines.datasets.shards.format import (
    ENCODED_KEY, FILENAME_KEY, FORMAT_VERSION, LABEL_KEY, MANIFEST_NAME, MAX_SHARDS, SHARD_PATTERN, TFRecordSet,
    default_shards, digest_folder, open_tfrecords, plan_sources, shard_name, source_digest)
from pipelines.datasets.shards.reuse import Shard, kept_or_why, known_shards, missing_reason, rewritten, rewritten_line
from pipelines.datasets.validate import DatasetError, DatasetIndex

_MANIFEST_TEMPORARY = temporary_name(Path(MANIFEST_NAME)).name
_LOCK_NAME = ".tfrecord.lock"
_LOCK_KIND = "tfrecord"


def _owned(relative: Path) -> bool:
    """The names the converter writes in a shard folder: shards, their temporary names, the manifest and its
    temporary name."""
    return len(relative.parts) == 1 and (relative.name in (MANIFEST_NAME, _MANIFEST_TEMPORARY)
                                          or SHARD_PATTERN.match(relative.name) is not None)


#: A shard folder: its lock file names the converter (written the first time it converts there).
_CLAIM = Claim("a TFRecord shard folder", _LOCK_NAME, lambda path: names_tool(path, _LOCK_KIND), _owned)


class ShardsRewrittenWarning(UserWarning):
    """:func:`ensure_tfrecords` wrote shards (or the manifest) again where a conversion was already: which, and
    why. A warning, so that a benchmark run, which converts on first use inside a case, lists it in its summary."""


def convert(index: DatasetIndex, folder: Path | str, shards: int | None = None, progress: bool = True,
            workers: int | None = None) -> TFRecordSet:
    """Write ``index`` as TFRecord shards in ``folder`` (completing an interrupted conversion), then the manifest.

    ``shards``: :func:`~pipelines.datasets.shards.format.default_shards` when ``None``. ``workers``: shards
    written at once (threads; default one per core, at most one per shard): reading the source files is the work,
    and it waits on the disk.
    """
    folder = _output_folder(index, folder)
    with _locked(folder):
        return _convert(index, folder, shards, progress, workers)


def ensure_tfrecords(index: DatasetIndex, root: Path | str | None = None, progress: bool = True) -> TFRecordSet:
    """The shards of ``index`` in :func:`~pipelines.datasets.shards.format.tfrecord_folder`: reused when their
    manifest is of the same source and every shard checks out, else converted (writing only the shards missing or
    damaged). Shards written again where a conversion was already, or a manifest written again over kept shards,
    are named with the reason in a :class:`ShardsRewrittenWarning` (a first conversion has its progress bar)."""
    digest = source_digest(index)
    folder = _output_folder(index, digest_folder(index, root, digest))
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


def _convert(index: DatasetIndex, folder: Path, shards: int | None, progress: bool,
             workers: int | None) -> TFRecordSet:
    if not index.images:
        raise DatasetError(f"no images to convert in {index.root}")
    count = default_shards(index.images, index.bytes) if shards is None else shards
    if not 1 <= count <= min(index.images, MAX_SHARDS):
        raise ValueError(f"shards must be between 1 and {min(index.images, MAX_SHARDS):,} "
                         f"(the images in {index.root}), got {count}")
    digest, relative, sizes = plan_sources(index)
    plan = [Shard(s, folder / shard_name(digest, s, count), tuple(range(s, index.images, count)))
            for s in range(count)]

    # What an older manifest of this very plan recorded: a shard failing its checksum is written again.
    known = known_shards(folder, digest)
    planned = {shard.path.name for shard in plan}
    missing_why = missing_reason(folder, digest, planned)  # before the manifest goes
    # The manifest (from here on, an unfinished conversion), a temporary file of an interrupted run, a shard of
    # another plan: only our own names, never a link.
    stale = [Path(entry.path) for entry in os.scandir(folder)
             if entry.is_file(follow_symlinks=False) and _owned(Path(entry.name)) and entry.name not in planned]
    remove_made(folder, _CLAIM, files=sorted(stale, key=lambda path: path.name != MANIFEST_NAME))  # manifest first

    results, todo, why = _write_missing(plan, known, index, (relative, sizes), progress, workers)
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
                       rewritten=rewritten(todo, why, missing_why, len(plan)))


def _write_missing(plan: list[Shard], known: dict[str, dict[str, Any]], index: DatasetIndex,
                   sources: tuple[tuple[str, ...], tuple[int, ...]], progress: bool, workers: int | None,
                   ) -> tuple[dict[int, tuple[int, str]], list[Shard], dict[str, str]]:
    """Keep each planned shard that checks out and write the others (``workers`` threads, a progress bar over
    every image): ``(bytes, sha256)`` by shard number, the shards written, and why each shard was written."""
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
            kept, why[shard.path.name] = kept_or_why(shard, known.get(shard.path.name))
            if kept is None:
                todo.append(shard)
            else:
                results[shard.number] = kept
                advance(len(shard.members))
        threads = max(1, min(len(todo), workers or os.cpu_count() or 1))
        job = lambda shard: _write_shard(shard, index, *sources, advance)  # noqa: E731
        if threads == 1:
            written = [job(shard) for shard in todo]
        else:
            with ThreadPoolExecutor(threads) as pool:
                written = list(pool.map(job, todo))
        results.update({shard.number: result for shard, result in zip(todo, written, strict=True)})
    return results, todo, why


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


def _write_shard(shard: Shard, index: DatasetIndex, relative: tuple[str, ...], sizes: tuple[int, ...],
                 advance) -> tuple[int, str]:
    """Write ``shard`` under a temporary name, check its record count, rename it; ``(bytes, sha256)``."""
    import tensorflow as tf  # here: opening a checked shard set needs no TensorFlow

    temporary = shard.path.with_name(f".{shard.path.name}.tmp")
    try:
        with tf.io.TFRecordWriter(str(temporary)) as writer:
            for position in shard.members:
                writer.write(_example(index, position, relative, sizes))
                advance(1)
        sha, records = hash_and_count(temporary)
        if records != len(shard.members):
            raise DatasetError(f"TFRecord shard {shard.path} holds {records} records once written, not "
                               f"{len(shard.members)} -- is the disk full? Free space and run again")
        os.replace(temporary, shard.path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    stat = shard.path.stat()
    remember_sha256(shard.path, stat, sha)  # read back from disk just now: opening the set need not read it again
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
