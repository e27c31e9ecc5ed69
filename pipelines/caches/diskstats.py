"""What the storage did during an epoch: reads, bytes, time per read and how busy the device was, from the
kernel's own per-device counters (``/proc/diskstats``).

A cold epoch's prediction rests on a read rate measured minutes before (:mod:`pipelines.caches.bandwidth`).
On a shared disk -- a VM's virtual disk, a network volume, a cloud volume with burst credits -- the time one read
takes can change many-fold from one minute to the next, and a loader that reads one file after another on a
few threads (ImageDataGenerator's workers) is bound by that time, not by bytes per second. Recording the
device's counters over the epoch itself says, by measurement, whether a missed prediction was the storage: the
device busy for most of the epoch, each read taking many times what it took when the rate was measured.

Over a long epoch the counters are also taken a window at a time (:data:`WINDOW_S`): a long storage-bound epoch
averages a volume whose rate can move several-fold from one minute to the next, and its read rate
window by window tells a volume that was slower all along from one that slowed as it was read.

Counters are those of the machine's whole disks, whichever folder the epoch reads and writes (the dataset and
its caches may be on different ones); where the kernel shows none (no ``/proc``), nothing is recorded.
"""

from __future__ import annotations

import os
import statistics
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

from pipelines.units import format_bytes

DISKSTATS = Path("/proc/diskstats")
SECTOR = 512  # /proc/diskstats counts 512-byte sectors whatever the device's own sector size

#: Share of an epoch the device was busy above which the epoch is called storage-bound.
STORAGE_BOUND_BUSY = 0.8

#: Seconds of one window of an epoch's counters: a minute, so that a cold epoch of 25 minutes gives 25 rates and
#: an epoch shorter than a minute (every benchmark's) gives none.
WINDOW_S = 60.0


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
        window_s: the length of the windows below (0: none taken).
        window_read_bytes, window_reads, window_read_ms: the bytes read, reads completed and milliseconds they
            spent in each whole window of ``window_s`` (the last part window left out), in order.
    """

    devices: tuple[str, ...]
    reads: int
    read_bytes: int
    read_ms: int
    writes: int
    write_bytes: int
    busy_ms: int
    seconds: float
    window_s: float = 0.0
    window_read_bytes: tuple[int, ...] = ()
    window_reads: tuple[int, ...] = ()
    window_read_ms: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        for name in ("devices", "window_read_bytes", "window_reads", "window_read_ms"):
            object.__setattr__(self, name, tuple(getattr(self, name)))  # lists, as study.json saved them

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

    @property
    def window_read_bps(self) -> list[float]:
        """Bytes read a second in each window."""
        return [b / self.window_s for b in self.window_read_bytes] if self.window_s else []

    def __add__(self, other: StorageTraffic) -> StorageTraffic:
        """Two measurements' counters together (two rounds of an epoch): their windows one after the other."""
        windows = {} if self.window_s and other.window_s and self.window_s != other.window_s else {
            "window_s": self.window_s or other.window_s,
            "window_read_bytes": self.window_read_bytes + other.window_read_bytes,
            "window_reads": self.window_reads + other.window_reads,
            "window_read_ms": self.window_read_ms + other.window_read_ms}
        return StorageTraffic(tuple(dict.fromkeys(self.devices + other.devices)), self.reads + other.reads,
                              self.read_bytes + other.read_bytes, self.read_ms + other.read_ms,
                              self.writes + other.writes, self.write_bytes + other.write_bytes,
                              self.busy_ms + other.busy_ms, self.seconds + other.seconds, **windows)

    def windows_line(self, least: int = 3) -> str:
        """``read a minute at a time: median 13.0 MB/s, 8.1 to 25.3 (first quarter 15.2, last 12.1); 20.7 ms a
        read, 14.2 to 36.6``, where at least ``least`` windows were read in; empty otherwise."""
        rates = self.window_read_bps
        if len(rates) < least:
            return ""
        quarter = max(1, len(rates) // 4)
        ms = [t / n for t, n in zip(self.window_read_ms, self.window_reads) if n]
        per = "a minute" if self.window_s == 60 else f"{self.window_s:g} s"
        text = (f"read {per} at a time: median {format_bytes(statistics.median(rates))}/s, "
                f"{format_bytes(min(rates))}/s to {format_bytes(max(rates))}/s (first quarter "
                f"{format_bytes(statistics.fmean(rates[:quarter]))}/s, last "
                f"{format_bytes(statistics.fmean(rates[-quarter:]))}/s)")
        return text + (f"; {statistics.median(ms):.1f} ms a read, {min(ms):.1f} to {max(ms):.1f}" if ms else "")

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


_Snapshot = tuple[float, dict[str, _Counters] | None]


def _difference(before: _Snapshot, after: _Snapshot) -> StorageTraffic | None:
    """The traffic between two snapshots of the counters (``None`` where either has none)."""
    (began, first), (ended, last) = before, after
    if not first or not last:
        return None
    seconds = ended - began
    moved = {n: (last[n], first[n]) for n in first if n in last and last[n] != first[n]}
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


class StorageMeter:
    """``start()`` before an epoch, ``stop()`` after: the :class:`StorageTraffic` of the machine's disks in
    between (the ones that moved anything), or ``None`` where the kernel shows no counters. With ``window_s``,
    a thread also takes the counters every ``window_s`` seconds meanwhile (the traffic's windows)."""

    def __init__(self, read: Callable[[], str] = DISKSTATS.read_text,
                 disks: Callable[[], frozenset[str]] = whole_disks, window_s: float = 0.0) -> None:
        self._read, self._disks, self._window_s = read, disks(), window_s
        self._start: _Snapshot | None = None
        self._windows: list[StorageTraffic] = []
        self._done = threading.Event()
        self._sampler: threading.Thread | None = None

    def _snapshot(self) -> dict[str, _Counters] | None:
        try:
            counters = parse_diskstats(self._read())
        except OSError:
            return None
        return {n: c for n, c in counters.items() if c.name in self._disks} or None

    def _now(self) -> _Snapshot:
        return time.perf_counter(), self._snapshot()

    def start(self) -> None:
        """Start measuring; started again before a ``stop()``, it starts over (one sampler thread at most)."""
        self._end_sampler()
        self._start, self._windows = self._now(), []
        if self._window_s > 0 and self._start[1]:
            self._done.clear()
            self._sampler = threading.Thread(target=self._take_windows, name="storage-windows", daemon=True)
            self._sampler.start()

    def _take_windows(self) -> None:
        last = self._start
        while not self._done.wait(self._window_s):
            now = self._now()
            window = _difference(last, now)
            if window is not None:
                self._windows.append(window)
            last = now

    def _end_sampler(self) -> None:
        if self._sampler is not None:
            self._done.set()
            self._sampler.join()
            self._sampler = None

    def stop(self) -> StorageTraffic | None:
        if self._start is None:
            raise RuntimeError("StorageMeter.stop() before start()")
        self._end_sampler()
        traffic = _difference(self._start, self._now()) if self._start[1] else None
        if traffic is None or not self._windows:
            return traffic
        return replace(traffic, window_s=self._window_s,
                       window_read_bytes=tuple(w.read_bytes for w in self._windows),
                       window_reads=tuple(w.reads for w in self._windows),
                       window_read_ms=tuple(w.read_ms for w in self._windows))
