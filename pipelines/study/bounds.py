"""Epochs bounded by the bytes they move: each epoch is predicted as the slower of its CPU law (fitted on small
sizes, :mod:`pipelines.study.extrapolate`) and its storage traffic at the rates measured where the caches live
(:mod:`pipelines.caches.bandwidth`).

What an epoch moves through storage, by row and epoch kind:

* a first (cold) epoch reads every JPEG from storage (the harness evicts them first, as at full size they do
  not stay cached), at the rate the dataset's own files were read (many small files, not one large one) and,
  with a file cache, writes the cache -- the part beyond what the page cache's write-back
  absorbs (:attr:`~pipelines.caches.bandwidth.Bandwidth.dirty_bytes`) at the disk's write rate;
* a later (warm) epoch of a file cache reads the whole cache back from storage; a later epoch without a cache
  reads nothing while the JPEGs stay in the page cache, and where they do not, the share of them that the
  page cache no longer holds when the epoch asks for them (:func:`reread_share`);
* a memory cache's later epochs move nothing through storage; its first epoch asks the kernel for a fresh page
  for every 4 KB it caches, which takes the cores' time and so adds to the CPU law (:func:`fill_s`).

Reading and decoding overlap (parallel map, prefetch), so the two bounds do not add: the slower one is the
epoch. The rates are those of a file of about the bytes moved (the nearest size measured): a small file is
served by the storage's own caches, a large one is not.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import replace

from pipelines.caches.bandwidth import Bandwidth
from pipelines.caches.modes import CACHE_SPECS
from pipelines.memory.fill_rate import MemoryFill, fill_seconds
from pipelines.harness.cases import Case
from pipelines.units import nearest_in_size, one_per_group


def nearest(bandwidths: Sequence[Bandwidth], nbytes: float, kind: str = "file") -> Bandwidth | None:
    """The rate of ``kind`` measured on the file closest in size to ``nbytes`` (by ratio), or ``None``."""
    return nearest_in_size((b for b in bandwidths if b.kind == kind), nbytes, lambda b: b.file_bytes)


#: A JPEG probe whose read requests took under a fifth of another probe's was served by a cache below this
#: machine -- a VM host's or a volume's, holding files read lately, never a dataset of many gigabytes -- and not by
#: the volume an epoch reads: a fifth, since the volume's own rate moves up to 4-5x from one minute to the next.
CACHED_REQUEST_RATIO = 5.0


def served_from_a_cache(probes: Sequence[Bandwidth]) -> list[Bandwidth]:
    """The JPEG probes among ``probes`` whose requests took under 1 / :data:`CACHED_REQUEST_RATIO` of the
    slowest one's (none where the times are not known)."""
    jpegs = [b for b in probes if b.kind == "jpegs" and b.ms_per_read > 0]
    slowest = max((b.ms_per_read for b in jpegs), default=0.0)
    return [b for b in jpegs if b.ms_per_read * CACHED_REQUEST_RATIO < slowest]


def jpeg_rate(bandwidths: Sequence[Bandwidth], jpeg_bytes: float) -> Bandwidth | None:
    """The rate a first epoch reads the JPEGs at: the dataset's own files' (``jpegs``) where measured -- read
    more than once (before and after the epochs), the rate that takes their mean time a byte, less any probe
    :func:`served_from_a_cache` -- else the sequential file's nearest in size."""
    cached = served_from_a_cache(bandwidths)
    probes = [b for b in bandwidths if b.kind == "jpegs" and b.read_bps > 0 and b not in cached]
    if not probes:
        return nearest(bandwidths, jpeg_bytes)
    return replace(probes[0], read_bps=len(probes) / sum(1 / b.read_bps for b in probes))


def read_bytes(case: Case, kind: str, jpeg_bytes: float, cache_bytes: float) -> float:
    """Bytes ``case``'s epoch of ``kind`` (``cold``/``warm``) reads from storage: the JPEGs on a first epoch, a
    file cache on a later one, nothing else."""
    return jpeg_bytes if kind == "cold" else (cache_bytes if CACHE_SPECS[case.cache].on_disk else 0.0)


def read_rate(kind: str, reads: float, bandwidths: Sequence[Bandwidth]) -> Bandwidth | None:
    """The rate an epoch of ``kind`` reads its ``reads`` bytes at: the JPEGs' on a first epoch, the nearest
    file's in size on a later one (a file cache)."""
    return jpeg_rate(bandwidths, reads) if kind == "cold" else nearest(bandwidths, reads)


def io_seconds(case: Case, kind: str, jpeg_bytes: float, cache_bytes: float,
               bandwidths: Sequence[Bandwidth]) -> float:
    """Seconds ``case``'s epoch of ``kind`` (``cold``/``warm``) spends on storage traffic alone; 0 where no
    rate was measured or nothing is moved."""
    spec = CACHE_SPECS[case.cache]
    reads = read_bytes(case, kind, jpeg_bytes, cache_bytes)
    seconds = 0.0
    rate = read_rate(kind, reads, bandwidths)
    if rate is not None:
        seconds += reads / rate.read_bps
    if kind == "cold" and spec.on_disk:
        rate = nearest(bandwidths, cache_bytes)
        if rate is not None:
            seconds += max(cache_bytes - rate.dirty_bytes, 0.0) / rate.write_bps
    return seconds


def fill_s(case: Case, kind: str, cache_bytes: float, memory_fills: Sequence[MemoryFill]) -> float:
    """What ``case``'s epoch of ``kind`` adds to its law for the fresh pages it fills: a memory cache's first
    epoch, at the cost a fresh byte measured nearest its size, in its dtype
    (:func:`~pipelines.memory.fill_rate.fill_seconds`); the pages come from the kernel on the cores' time, so
    this adds to the CPU law rather than overlapping it."""
    fills = kind == "cold" and CACHE_SPECS[case.cache].in_ram
    return fill_seconds(memory_fills, cache_bytes, case.placement) if fills else 0.0


def reread_share(room_bytes: float, jpeg_bytes: float) -> float:
    """The share of the JPEGs a later epoch reads from storage again when the page cache holds ``room_bytes`` of
    their ``jpeg_bytes``, each epoch visiting every file once in a new random order (the loaders shuffle).

    The page cache is taken as least-recently-used. An epoch starts with the last ``c = room / JPEGs`` of the
    previous epoch's order cached. While a share ``t`` of the new epoch is read, the files not yet visited are
    spread evenly over the previous order, so the next one is a miss with the chance ``b`` that it lies below
    the cached part's oldest end; each miss evicts the oldest cached file not yet visited, of which ``1 - t``
    lie per unit of the previous order: ``db/dt = b / (1 - t)``, ``b(0) = 1 - c``, so ``b = (1 - c) / (1 - t)``
    until ``t = c``, when the last of the previous epoch's files is gone and every read misses. The misses sum to
    ``(1 - c)(1 - ln(1 - c))``: 58% at ``c = 0.76``, 33% at 0.9, 5.6% at 0.99 -- far more than the ``1 - c`` a
    cache holding a fixed part of the files would miss, because files visited early evict the ones the epoch
    has yet to visit. (A simulation of such a cache agrees, ``tests/test_bounds.py``; Linux's two-list page
    cache is close to it: 61% measured at about 0.74.)"""
    if jpeg_bytes <= 0:
        return 0.0
    cached = min(max(room_bytes / jpeg_bytes, 0.0), 1.0)
    return 0.0 if cached >= 1.0 else (1.0 - cached) * (1.0 - math.log(1.0 - cached))


def bounded(cpu_s: float, io_s: float) -> float:
    """The epoch: the slower of its CPU work and its storage traffic (they overlap)."""
    return max(cpu_s, io_s)


def sizes_to_measure(file_sizes: Sequence[float], free_bytes: int, within: float = 0.25) -> list[int]:
    """The file sizes to measure rates at for traffic of ``file_sizes`` bytes: one per group within ``within``
    of each other, leaving a tenth of ``free_bytes`` free (a size that does not fit is a row that does not
    either)."""
    return one_per_group((s for s in file_sizes if 0 < s <= 0.9 * free_bytes), within)
