"""Where tf.data file caches live, and how they are cleaned up.

Every file-cached pipeline gets a fresh scratch folder (``loaderbench-cache-*``, :mod:`pipelines.cleanup.scratch`) under
``Contract.cache_dir`` or the system's temporary folder, removed when the pipeline is closed; one left by a killed
process is swept by the next run. A cache prefix with a ``.lockfile`` left by a killed writer is cleared before an
epoch, so TensorFlow rebuilds the cache instead of failing with "There appears to be a concurrent caching
iterator running". A disk that fills while a cache is written fails that case with one line saying where and what
to do (:func:`disk_full`, :func:`disk_full_line`), not TensorFlow's error for the cache's temporary file.
"""

from __future__ import annotations

import errno
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from pipelines.cleanup.scratch import scratch_folder
from pipelines.units import format_bytes


@contextmanager
def cache_workspace(parent: Path | None = None) -> Iterator[Path]:
    """A fresh folder for cache files, removed on exit whatever happens inside."""
    with scratch_folder("cache", parent) as folder:
        yield folder


def lockfiles(prefix: Path) -> list[Path]:
    """Lock files TensorFlow keeps while a cache at ``prefix`` is being written (``<prefix>_<shard>.lockfile``)."""
    return sorted(prefix.parent.glob(f"{prefix.name}*.lockfile"))


def clear_partial_cache(prefix: Path) -> bool:
    """Delete a cache at ``prefix`` (in this process's own scratch folder) that a killed writer left
    half-written; True if one was found."""
    if not lockfiles(prefix):
        return False
    for path in cache_files(prefix):
        path.unlink(missing_ok=True)
    return True


def cache_files(prefix: Path) -> list[Path]:
    """Every file TensorFlow wrote for the cache at ``prefix``: ``cache(path)``'s index, data shards and lock
    files beside it, and everything inside the folder that ``snapshot`` and ``save`` write at it."""
    found: list[Path] = []
    for path in prefix.parent.glob(f"{prefix.name}*"):
        if path.is_dir():
            found.extend(p for p in path.rglob("*") if p.is_file())
        elif path.is_file():
            found.append(path)
    return sorted(found)


def cache_bytes(prefix: Path) -> int:
    """Bytes on disk of the cache at ``prefix``."""
    return sum(p.stat().st_size for p in cache_files(prefix))


def disk_full(error: BaseException | None) -> bool:
    """Whether ``error``, or an error it was raised from, says the disk is full: an ``OSError`` with ``ENOSPC``,
    or TensorFlow's error for it (``ResourceExhaustedError``), whose message carries the system's words."""
    seen: set[int] = set()
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        if (isinstance(error, OSError) and error.errno == errno.ENOSPC) or os.strerror(errno.ENOSPC) in str(error):
            return True
        error = error.__cause__ or error.__context__
    return False


def disk_full_line(cache_dir: Path | None, free: int) -> str:
    """What a case whose file cache filled the disk says, in one line: where, how much is free, what to do."""
    where = Path(cache_dir or tempfile.gettempdir()).expanduser()
    return (f"the disk filled up while this case wrote its file cache in {where}: {format_bytes(free)} ({free:,} "
            f"bytes) free there now -- free some space, or put the file caches on a disk with room: --cache-dir "
            "DIR (the cases after it that no longer fit are skipped)")
