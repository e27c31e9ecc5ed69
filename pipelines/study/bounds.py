"""Epochs bounded by the bytes they move: each epoch is predicted as the slower of its CPU law (fitted on small
sizes, :mod:`pipelines.study.extrapolate`) and its storage traffic at the rates measured where the caches live
(:mod:`pipelines.caches.bandwidth`).

What an epoch moves through storage, by row and epoch kind:

* a first (cold) epoch reads every JPEG from storage (the harness evicts them first, as at full size they do
  not stay cached), at the rate the dataset's own files were read (many small files, not one large one) and,
  with a file cache, writes the cache -- the part beyond what the page cache's write-back
  absorbs (:attr:`~pipelines.caches.bandwidth.Bandwidth.dirty_bytes`) at the disk's write rate;
* a later (warm) epoch of a file cache reads the whole cache back from storage; a later epoch without a cache
  reads nothing while the JPEGs stay in the page cache, and all of them where they do not (its ``cold`` law);
* a memory cache's later epochs move nothing through storage.

Reading and decoding overlap (parallel map, prefetch), so the two bounds do not add: the slower one is the
epoch. The rates are those of a file of about the bytes moved (the nearest size measured): a small file is
served by the storage's own caches, a large one is not.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from pipelines.caches.bandwidth import Bandwidth
from pipelines.caches.modes import CACHE_SPECS
from pipelines.harness.cases import Case


def nearest(bandwidths: Sequence[Bandwidth], nbytes: float, kind: str = "file") -> Bandwidth | None:
    """The rate of ``kind`` measured on the file closest in size to ``nbytes`` (by ratio), or ``None``."""
    of_kind = [b for b in bandwidths if b.kind == kind]
    if not of_kind or nbytes <= 0:
        return None
    return min(of_kind, key=lambda b: abs(math.log(b.file_bytes / nbytes)))


def jpeg_rate(bandwidths: Sequence[Bandwidth], jpeg_bytes: float) -> Bandwidth | None:
    """The rate a first epoch reads the JPEGs at: the dataset's own files' (``jpegs``) where measured, else the
    sequential file's nearest in size."""
    return next((b for b in bandwidths if b.kind == "jpegs"), None) or nearest(bandwidths, jpeg_bytes)


def io_seconds(case: Case, kind: str, jpeg_bytes: float, cache_bytes: float,
               bandwidths: Sequence[Bandwidth]) -> float:
    """Seconds ``case``'s epoch of ``kind`` (``cold``/``warm``) spends on storage traffic alone; 0 where no
    rate was measured or nothing is moved."""
    spec = CACHE_SPECS[case.cache]
    reads = jpeg_bytes if kind == "cold" else (cache_bytes if spec.on_disk else 0.0)
    seconds = 0.0
    rate = jpeg_rate(bandwidths, reads) if kind == "cold" else nearest(bandwidths, reads)
    if rate is not None:
        seconds += reads / rate.read_bps
    if kind == "cold" and spec.on_disk:
        rate = nearest(bandwidths, cache_bytes)
        if rate is not None:
            seconds += max(cache_bytes - rate.dirty_bytes, 0.0) / rate.write_bps
    return seconds


def bounded(cpu_s: float, io_s: float) -> float:
    """The epoch: the slower of its CPU work and its storage traffic (they overlap)."""
    return max(cpu_s, io_s)


def sizes_to_measure(file_sizes: Sequence[float], free_bytes: int, within: float = 0.25) -> list[int]:
    """The file sizes to measure rates at for traffic of ``file_sizes`` bytes: one per group within ``within``
    of each other, leaving a tenth of ``free_bytes`` free (a size that does not fit is a row that does not
    either)."""
    chosen: list[int] = []
    for size in sorted(s for s in file_sizes if 0 < s <= 0.9 * free_bytes):
        if not chosen or size > chosen[-1] * (1 + within):
            chosen.append(int(size))
    return chosen
