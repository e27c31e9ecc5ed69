"""Evict a dataset's files from the operating system's page cache, and tell how much of them is resident.

A "no cache" epoch over a dataset that fits in RAM reads from the page cache, not from storage, and flatters
the loader. ``posix_fadvise(POSIX_FADV_DONTNEED)`` asks the kernel to drop clean pages of a file and needs no
root; it is advice, so :func:`resident_fraction` (``mincore``) checks what it achieved, and a benchmark
records the measured figure rather than assuming it.
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


def evict(paths: Iterable[Path]) -> bool:
    """Advise the kernel to drop ``paths`` from the page cache; False where the platform cannot."""
    if not hasattr(os, "posix_fadvise"):
        return False
    for path in paths:
        fd = os.open(path, os.O_RDONLY)
        try:
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


def page_cache_state(paths: list[Path], threshold: float = 0.1) -> tuple[str, float | None]:
    """``("evicted", fraction)`` when under ``threshold`` of the pages are resident, else ``("warm", ...)``."""
    fraction = resident_fraction(paths)
    if fraction is None:
        return "unknown", None
    return ("evicted" if fraction < threshold else "warm"), fraction
