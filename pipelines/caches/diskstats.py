"""What the storage did during an epoch: reads, bytes, time per read and how busy the device was, from the
kernel's own per-device counters (``/proc/diskstats``).

A cold epoch's prediction rests on a read rate measured minutes before (:mod:`pipelines.caches.bandwidth`).
On a shared disk -- a VM's virtual disk, a network volume, a cloud volume with burst credits -- the time one read
takes can change many-fold from one minute to the next, and a loader that reads one file after another on a
few threads (ImageDataGenerator's workers) is bound by that time, not by bytes per second. Recording the
device's counters over the epoch itself says, by measurement, whether a missed prediction was the storage: the
device busy for most of the epoch, each read taking many times what it took when the rate was measured.

Counters are those of the machine's whole disks, whichever folder the epoch reads and writes (the dataset and
its caches may be on different ones); where the kernel shows none (no ``/proc``), nothing is recorded.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from pipelines.units import format_bytes

DISKSTATS = Path("/proc/diskstats")
SECTOR = 512  # /proc/diskstats counts 512-byte sectors whatever the device's own sector size

#: Share of an epoch the device was busy above which the epoch is called storage-bound.
STORAGE_BOUND_BUSY = 0.8


@dataclass(frozen=True)
class StorageTraffic:
    """The difference of the disks' counters over a measurement.

    Attributes:
        devices: the disks that moved anything (``vda``; none: no traffic at all); their counters are summed,
            and ``busy_ms`` is the busiest one's.
        reads, writes: requests completed.
        read_bytes, write_bytes: bytes moved.
        read_ms: milliseconds the completed reads spent, summed over requests (overlapping requests each count).
        busy_ms: milliseconds the device had at least one request in flight.
        seconds: wall time measured over.
    """

    devices: tuple[str, ...]
    reads: int
    read_bytes: int
    read_ms: int
    writes: int
    write_bytes: int
    busy_ms: int
    seconds: float

    @property
    def busy(self) -> float:
        """Share of the wall time the device was busy (0..1)."""
        return min(1.0, self.busy_ms / 1000 / self.seconds) if self.seconds > 0 else 0.0

    @property
    def ms_per_read(self) -> float:
        return self.read_ms / self.reads if self.reads else 0.0

    @property
    def read_bps(self) -> float:
        return self.read_bytes / self.seconds if self.seconds > 0 else 0.0

    @property
    def storage_bound(self) -> bool:
        return self.busy >= STORAGE_BOUND_BUSY

    def __add__(self, other: StorageTraffic) -> StorageTraffic:
        return StorageTraffic(tuple(dict.fromkeys(self.devices + other.devices)), self.reads + other.reads,
                              self.read_bytes + other.read_bytes, self.read_ms + other.read_ms,
                              self.writes + other.writes, self.write_bytes + other.write_bytes,
                              self.busy_ms + other.busy_ms, self.seconds + other.seconds)

    def line(self) -> str:
        """``vda busy 97%: 2,044 reads of 324 MB (17 MB/s), 12.7 ms each; 0 B written``."""
        if not self.devices:
            return "no disk read or wrote anything"
        return (f"{'+'.join(self.devices)} busy {self.busy:.0%}: {self.reads:,} reads of "
                f"{format_bytes(self.read_bytes)} ({format_bytes(self.read_bps)}/s), {self.ms_per_read:.1f} ms "
                f"each; {format_bytes(self.write_bytes)} written")


@dataclass(frozen=True)
class _Counters:
    name: str
    reads: int
    read_sectors: int
    read_ms: int
    writes: int
    write_sectors: int
    busy_ms: int


def parse_diskstats(text: str) -> dict[str, _Counters]:
    """``/proc/diskstats``' counters by ``major:minor`` (fields 4-7 reads, 8-11 writes, 13 time busy)."""
    counters = {}
    for line in text.splitlines():
        fields = line.split()
        if len(fields) < 14:
            continue
        number = [int(f) for f in fields[3:14]]
        counters[f"{fields[0]}:{fields[1]}"] = _Counters(fields[2], number[0], number[2], number[3], number[4],
                                                         number[6], number[9])
    return counters


def whole_disks() -> frozenset[str]:
    """The machine's whole block devices (``/sys/block``: disks, not their partitions, which would count
    each request twice)."""
    try:
        return frozenset(os.listdir("/sys/block"))
    except OSError:
        return frozenset()


class StorageMeter:
    """``start()`` before an epoch, ``stop()`` after: the :class:`StorageTraffic` of the machine's disks in
    between (the ones that moved anything), or ``None`` where the kernel shows no counters."""

    def __init__(self, read: Callable[[], str] = DISKSTATS.read_text,
                 disks: Callable[[], frozenset[str]] = whole_disks) -> None:
        self._read, self._disks = read, disks()
        self._start: tuple[float, dict[str, _Counters] | None] | None = None

    def _snapshot(self) -> dict[str, _Counters] | None:
        try:
            counters = parse_diskstats(self._read())
        except OSError:
            return None
        return {n: c for n, c in counters.items() if c.name in self._disks} or None

    def start(self) -> None:
        self._start = (time.perf_counter(), self._snapshot())

    def stop(self) -> StorageTraffic | None:
        if self._start is None:
            raise RuntimeError("StorageMeter.stop() before start()")
        began, before = self._start
        after = self._snapshot() if before else None
        if not before or not after:
            return None
        seconds = time.perf_counter() - began
        diff = {n: (after[n], before[n]) for n in before if n in after}
        moved = {n: pair for n, pair in diff.items() if pair[0] != pair[1]}
        if not moved:
            return StorageTraffic((), 0, 0, 0, 0, 0, 0, seconds)
        return StorageTraffic(
            tuple(a.name for a, _ in moved.values()),
            sum(a.reads - b.reads for a, b in moved.values()),
            sum(a.read_sectors - b.read_sectors for a, b in moved.values()) * SECTOR,
            sum(a.read_ms - b.read_ms for a, b in moved.values()),
            sum(a.writes - b.writes for a, b in moved.values()),
            sum(a.write_sectors - b.write_sectors for a, b in moved.values()) * SECTOR,
            max(a.busy_ms - b.busy_ms for a, b in moved.values()),
            seconds)
