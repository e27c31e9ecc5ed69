"""Where tf.data file caches live, and how they are cleaned up.

Every file-cached pipeline gets a fresh folder (``loaderbench-cache-*``) under ``Contract.cache_dir`` or the
system's temporary folder, removed when the pipeline is closed. A process killed mid-run cannot remove its
folder, so each new folder first sweeps away those whose owning process is gone, and a cache prefix with
a ``.lockfile`` left by a killed writer is cleared before an epoch, so TensorFlow rebuilds the cache instead
of failing with "There appears to be a concurrent caching iterator running".
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psutil

_PREFIX = "loaderbench-cache-"
_OWNER_FILE = "owner.pid"


@contextmanager
def cache_workspace(parent: Path | None = None) -> Iterator[Path]:
    """A fresh folder for cache files, removed on exit whatever happens inside."""
    parent = Path(parent or tempfile.gettempdir())
    parent.mkdir(parents=True, exist_ok=True)
    sweep_abandoned(parent)
    folder = Path(tempfile.mkdtemp(prefix=_PREFIX, dir=parent))
    (folder / _OWNER_FILE).write_text(str(os.getpid()))
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def sweep_abandoned(parent: Path) -> list[Path]:
    """Remove cache folders in ``parent`` whose owning process has exited; returns what was removed."""
    removed = []
    for folder in parent.glob(f"{_PREFIX}*"):
        try:
            owner = int((folder / _OWNER_FILE).read_text())
        except (OSError, ValueError):
            continue  # not ours, or still being created: leave it
        if owner != os.getpid() and not psutil.pid_exists(owner):
            shutil.rmtree(folder, ignore_errors=True)
            removed.append(folder)
    return removed


def lockfiles(prefix: Path) -> list[Path]:
    """Lock files TensorFlow keeps while a cache at ``prefix`` is being written (``<prefix>_<shard>.lockfile``)."""
    return sorted(prefix.parent.glob(f"{prefix.name}*.lockfile"))


def clear_partial_cache(prefix: Path) -> bool:
    """Delete a cache at ``prefix`` that a killed writer left half-written; True if one was found."""
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
