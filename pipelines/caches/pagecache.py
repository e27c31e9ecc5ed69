"""Evict a dataset's files from the operating system's page cache, and tell how much of them is resident.

A "no cache" epoch over a dataset that fits in RAM reads from the page cache, not from storage, and flatters
the loader; so does a file cache read back right after it was written. ``posix_fadvise(POSIX_FADV_DONTNEED)``
asks the kernel to drop a file's pages and needs no root, but it drops only clean pages: :func:`evict` flushes
each file first (``fdatasync``), so a cache just written is evicted too. It is advice, so
:func:`resident_fraction` (``mincore``) checks what it achieved, and a benchmark records the measured figure
rather than assuming it. On a RAM-backed file system (``tmpfs``) nothing can be evicted: :func:`filesystem_of`
names the file system so that results can say so.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import mmap
import os
from collections.abc import Iterable
from pathlib import Path

_PAGE = mmap.PAGESIZE
_libc = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)
_libc.mmap.restype = ctypes.c_void_p
_libc.mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_long]
_MAP_FAILED = ctypes.c_void_p(-1).value

#: Under this share of pages resident, files count as evicted (read from storage).
RESIDENT_AT = 0.1

#: File systems whose files live in RAM: a file cache there is a memory cache by another name.
RAM_FILESYSTEMS = frozenset({"tmpfs", "ramfs", "devtmpfs", "hugetlbfs"})


def evict(paths: Iterable[Path]) -> bool:
    """Flush ``paths`` to storage and advise the kernel to drop them from the page cache; False where the
    platform cannot."""
    if not hasattr(os, "posix_fadvise"):
        return False
    for path in paths:
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fdatasync(fd)  # dirty pages (a cache just written) are not dropped, only clean ones
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        finally:
            os.close(fd)
    return True


def resident_fraction(paths: Iterable[Path]) -> float | None:
    """Share of the files' pages in the page cache (0..1), by ``mincore``; None where unavailable."""
    resident = total = 0
    for path in paths:
        size = path.stat().st_size
        if size == 0:
            continue
        pages = (size + _PAGE - 1) // _PAGE
        vector = (ctypes.c_ubyte * pages)()
        fd = os.open(path, os.O_RDONLY)
        try:
            address = _libc.mmap(None, size, mmap.PROT_READ, mmap.MAP_SHARED, fd, 0)
            if address in (None, _MAP_FAILED):
                return None
            try:
                if _libc.mincore(ctypes.c_void_p(address), ctypes.c_size_t(size), vector) != 0:
                    return None
            finally:
                _libc.munmap(ctypes.c_void_p(address), ctypes.c_size_t(size))
        finally:
            os.close(fd)
        resident += sum(v & 1 for v in vector)
        total += pages
    return resident / total if total else 0.0


def filesystem_of(path: Path) -> str | None:
    """The type of the file system holding ``path`` (``ext4``, ``tmpfs``...), from the mount table; None if unknown."""
    import psutil

    target = os.path.realpath(path)
    best: tuple[int, str] | None = None
    for part in psutil.disk_partitions(all=True):
        mount = part.mountpoint.rstrip(os.sep) or os.sep
        if target == mount or target.startswith(mount.rstrip(os.sep) + os.sep):
            if best is None or len(mount) > best[0]:
                best = (len(mount), part.fstype)
    return best[1] if best else None


def is_ram_backed(filesystem: str | None) -> bool:
    return filesystem in RAM_FILESYSTEMS
