"""Measure what filling a cache really costs in RAM, with memory-profiler sampling this process's RSS."""

from __future__ import annotations

import ctypes
import ctypes.util
import gc
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import psutil
from memory_profiler import memory_usage

MIB = 2**20


@dataclass(frozen=True)
class MemoryFigures:
    """Attributes:
        peak_rss_bytes: highest resident set size sampled while the function ran.
        rss_growth_bytes: RSS after it returned minus RSS before (what it left resident, e.g. a filled cache).
        peak_growth_bytes: peak minus RSS before (what it held at most: cache, shuffle buffer, working set).
        timeline: ``(seconds since start, rss bytes)`` samples, for plots.
    """

    peak_rss_bytes: int
    rss_growth_bytes: int
    peak_growth_bytes: int = 0
    timeline: list[tuple[float, int]] = field(default_factory=list, repr=False)


def release_free_memory() -> None:
    """Collect garbage and hand freed heap pages back to the OS (glibc ``malloc_trim``), so that RSS counts
    live memory. Without it, memory freed by an earlier case is reused silently and a new cache's RSS growth
    says little about its size; with it, the growth follows the cache's bytes (``tests/test_memory.py``)."""
    gc.collect()
    libc_name = ctypes.util.find_library("c")
    if libc_name:
        trim = getattr(ctypes.CDLL(libc_name), "malloc_trim", None)
        if trim is not None:
            trim(0)


def measure_memory(function: Callable[..., Any], *args: Any, interval: float = 0.05) -> tuple[Any, MemoryFigures]:
    """Run ``function(*args)`` while memory-profiler samples RSS every ``interval`` s; its result and figures."""
    process = psutil.Process()
    release_free_memory()
    before = process.memory_info().rss
    samples, result = memory_usage((function, args), interval=interval, retval=True, timestamps=True,
                                   include_children=False, max_iterations=1)
    after = process.memory_info().rss
    start = samples[0][1] if samples else 0.0
    timeline = [(round(t - start, 3), int(mib * MIB)) for mib, t in samples]
    peak = max([rss for _, rss in timeline] + [after])
    return result, MemoryFigures(peak_rss_bytes=peak, rss_growth_bytes=after - before,
                                 peak_growth_bytes=peak - before, timeline=timeline)
