"""Step 3: bound each epoch by what it moves -- storage bytes over the storage's measured rates.

A line fitted on a few hundred images cannot see storage. Reading the JPEGs overlaps decoding (parallel map,
prefetch), so an epoch is at least its reads; writing a file cache past write-back adds to it (:func:`stall`);
reading one back may overlap the work fully or not at all (the interval reaches their sum). The rates
(:mod:`pipelines.caches.bandwidth`): the dataset's own files read before and after the epochs, and a file the
size of each cache written and read; the traffic's interval spans the two reads of the files, and each file
rate is moved by the same share.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from pipelines.caches.bandwidth import Bandwidth
from pipelines.caches.modes import CACHE_SPECS
from pipelines.harness.cases import Case
from pipelines.memory.predict import WORKING_SET_BYTES
from pipelines.study.fit import Estimate
from pipelines.units import nearest_in_size, one_per_group

NOTHING = Estimate(0.0, 0.0, 0.0)


def page_cache_room(ram_budget: int, resident_bytes: int = 0) -> int:
    """Bytes of the RAM budget left to the page cache: less the pipeline's working set and the process itself."""
    return max(ram_budget - WORKING_SET_BYTES - resident_bytes, 0)


def rereads_storage(case: Case, jpeg_bytes: float, room: int) -> bool:
    """Whether ``case``'s later epochs read the JPEGs from storage again: it caches nothing and they outgrow
    the page cache's ``room``."""
    return not CACHE_SPECS[case.cache].caches and jpeg_bytes > room


def reread_share(room_bytes: float, jpeg_bytes: float) -> float:
    """The share of the JPEGs a later epoch reads from storage again when the page cache holds ``room_bytes`` of
    their ``jpeg_bytes``, each epoch visiting every file once in a new random order.

    Least recently used: an epoch starts with the last ``c = room / JPEGs`` of the previous order cached; while a
    share ``t`` of the new one is read, a miss comes with the chance ``b`` that the next file lies below the
    cached part, and each miss evicts a cached file not yet visited: ``db/dt = b / (1 - t)``, ``b(0) = 1 - c``,
    until ``t = c``, after which every read misses. The misses sum to ``(1 - c)(1 - ln(1 - c))``: 58% at
    ``c = 0.76`` -- far more than ``1 - c``, because files visited early evict the ones still to come."""
    if jpeg_bytes <= 0:
        return 0.0
    cached = min(max(room_bytes / jpeg_bytes, 0.0), 1.0)
    return 0.0 if cached >= 1.0 else (1.0 - cached) * (1.0 - math.log(1.0 - cached))


def jpeg_seconds(nbytes: float, bandwidths: Sequence[Bandwidth]) -> Estimate:
    """``nbytes`` of JPEGs read at each probed rate of the dataset's own files: their mean time a byte, the
    fastest and the slowest (the sequential file nearest in size where none was probed)."""
    rates = [b.read_bps for b in bandwidths if b.kind == "jpegs" and b.read_bps > 0]
    if not rates:
        return file_seconds(nbytes, bandwidths, "read")
    mean = sum(1 / r for r in rates) / len(rates)
    return Estimate(nbytes * mean, nbytes / max(rates), nbytes / min(rates))


def storage_moves(bandwidths: Sequence[Bandwidth]) -> float:
    """How far the storage's rate moved between the JPEG probes, as a share of their mean time a byte."""
    probes = [b for b in bandwidths if b.kind == "jpegs" and b.read_bps > 0]
    return jpeg_seconds(1.0, probes).half_width if probes else 0.0


def file_seconds(nbytes: float, bandwidths: Sequence[Bandwidth], way: str) -> Estimate:
    """``nbytes`` written or read (``way``) at the sequential rate measured on the file nearest in size, moved
    by :func:`storage_moves`; nothing where no file was measured."""
    nearest = nearest_in_size((b for b in bandwidths if b.kind == "file"), nbytes, lambda b: b.file_bytes)
    rate = nearest and (nearest.write_bps if way == "write" else nearest.read_bps)
    if not rate:
        return NOTHING
    seconds, moves = nbytes / rate, storage_moves(bandwidths)
    return Estimate(seconds, seconds * (1 - moves), seconds * (1 + moves))


def traffic(case: Case, kind: str, jpeg_bytes: float, cache_bytes: float, room: int,
            bandwidths: Sequence[Bandwidth]) -> Estimate:
    """Seconds of storage reads of ``case``'s epoch of ``kind`` (``cold``, ``warm``): a first epoch reads the
    JPEGs; a later one reads a file cache back, or the share of the JPEGs the page cache's ``room`` misses
    (:func:`reread_share`)."""
    if kind == "cold":
        return jpeg_seconds(jpeg_bytes, bandwidths)
    if CACHE_SPECS[case.cache].on_disk:
        return file_seconds(cache_bytes, bandwidths, "read")
    if rereads_storage(case, jpeg_bytes, room):
        return jpeg_seconds(jpeg_bytes * reread_share(room, jpeg_bytes), bandwidths)
    return NOTHING


def stall(case: Case, kind: str, cache_bytes: float, bandwidths: Sequence[Bandwidth]) -> Estimate:
    """Seconds a first epoch waits on writing its file cache past what write-back absorbs: the cache writes each
    element as it passes, so a write the kernel holds back stops the pipeline (it adds to the epoch)."""
    if kind != "cold" or not CACHE_SPECS[case.cache].on_disk:
        return NOTHING
    dirty = max((b.dirty_bytes for b in bandwidths if b.kind == "file"), default=0)
    return file_seconds(max(cache_bytes - dirty, 0.0), bandwidths, "write")


def sizes_to_measure(file_sizes: Sequence[float], free_bytes: int, within: float = 0.25) -> list[int]:
    """The file sizes to measure rates at for traffic of ``file_sizes`` bytes: one per group within ``within``
    of each other, leaving a tenth of ``free_bytes`` free (a size that does not fit is a row that does not)."""
    return one_per_group((s for s in file_sizes if 0 < s <= 0.9 * free_bytes), within)
