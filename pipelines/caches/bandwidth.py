"""How fast this machine moves a cache's bytes where the caches live: sustained sequential write and read of a
file of the cache's own size, as fio measures a disk (written with a final ``fsync``, evicted, read back).

An epoch whose cost is bytes -- a file cache read back, a 7 GB cache written past what the page cache absorbs,
JPEGs read from storage -- is bounded by these rates, and a per-image slope fitted on small epochs cannot see
them: a small file is served from the storage's own caches (the VM host's, the drive's), a file of the cache's
size outgrows them. So the rates are measured at the size the prediction needs (:func:`measure_bandwidth`), and
recorded with the run.
"""

from __future__ import annotations

import os
import random
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import psutil

from pipelines.caches.diskstats import StorageMeter
from pipelines.caches.pagecache import evict
from pipelines.cleanup.scratch import scratch_folder
from pipelines.units import format_bytes

#: Bytes written or read per call: large enough that the call's own cost is nothing beside the transfer.
CHUNK_BYTES = 16 * 2**20


@dataclass(frozen=True)
class Bandwidth:
    """Sustained rates over one file (``kind`` ``file``), or over a dataset's own files (``jpegs``).

    Attributes:
        file_bytes: the bytes moved (the file's size: the cache's, or the JPEGs', it stands for; or the files
            read).
        write_bps: bytes a second, written and ``fsync``-ed (0 for ``jpegs``: nothing is written).
        read_bps: bytes a second, read back after eviction.
        dirty_bytes: what a writer may leave to the page cache's write-back before it waits for the disk
            (``vm.dirty_bytes``, or ``vm.dirty_ratio`` of the RAM available at measurement).
        folder: where it was measured.
        kind: ``file``: one file written and read sequentially; ``jpegs``: a sample of a dataset's files read
            as a first epoch reads them (:func:`measure_file_reads`).
        files: the files read.
        ms_per_read: for ``jpegs``, the time one read request took on the device meanwhile (the kernel's disk
            counters, :mod:`pipelines.caches.diskstats`; 0 where not shown): what an epoch's own reads are
            compared with, since on shared storage it changes from minute to minute.
        when: for ``jpegs``, when it was read (``before the epochs``, ``after the epochs``; empty: not said):
            two reads of one volume minutes apart are the range its rate moved in.
    """

    file_bytes: int
    write_bps: float
    read_bps: float
    dirty_bytes: int
    folder: str
    kind: str = "file"
    files: int = 1
    ms_per_read: float = 0.0
    when: str = ""

    def line(self) -> str:
        if self.kind == "jpegs":
            return (f"{self.files:,} of the dataset's files ({format_bytes(self.file_bytes)}) in {self.folder}: "
                    f"read {format_bytes(self.read_bps)}/s (evicted first"
                    + (f"; {self.ms_per_read:.1f} ms a read request)" if self.ms_per_read else ")")
                    + (f" {self.when}" if self.when else ""))
        return (f"{format_bytes(self.file_bytes)} file in {self.folder}: write {format_bytes(self.write_bps)}/s, "
                f"read {format_bytes(self.read_bps)}/s (evicted first)")


def dirty_allowance() -> int:
    """Bytes the kernel lets a writer dirty before it throttles it to the disk's rate."""
    try:
        fixed = int(Path("/proc/sys/vm/dirty_bytes").read_text())
        if fixed:
            return fixed
        ratio = int(Path("/proc/sys/vm/dirty_ratio").read_text())
    except (OSError, ValueError):
        return 0
    return psutil.virtual_memory().available * ratio // 100


def read_through(paths: Sequence[Path]) -> None:
    """Every byte of ``paths``, in order, :data:`CHUNK_BYTES` a call, into one buffer (nothing kept)."""
    buffer = bytearray(CHUNK_BYTES)
    for path in paths:
        with open(path, "rb", buffering=0) as source:
            while source.readinto(buffer):
                pass


def measure_bandwidth(folder: Path | None, file_bytes: int) -> Bandwidth:
    """Write ``file_bytes`` (rounded up to a whole chunk) to a scratch file under ``folder`` (default: the
    temporary folder, where file caches go), ``fsync`` it, evict it, read it back; the file is removed."""
    block = os.urandom(CHUNK_BYTES)  # incompressible, as decoded pixels mostly are to a disk
    chunks = max(1, -(-file_bytes // CHUNK_BYTES))
    dirty = dirty_allowance()
    with scratch_folder("bandwidth", folder) as scratch:
        path = scratch / "pass.bin"
        start = time.perf_counter()
        with open(path, "wb", buffering=0) as out:
            for _ in range(chunks):
                out.write(block)
            os.fsync(out.fileno())
        write_s = time.perf_counter() - start
        evict([path])
        start = time.perf_counter()
        read_through([path])
        read_s = time.perf_counter() - start
    size = chunks * CHUNK_BYTES
    return Bandwidth(size, size / write_s, size / read_s, dirty, str(scratch.parent))


#: Files :func:`measure_file_reads` samples: enough that a few the storage still caches do not decide the rate.
READ_SAMPLE = 1024


def measure_file_reads(paths: Sequence[Path], readers: int, sample: int = READ_SAMPLE,
                       rng: random.Random | None = None, when: str = "") -> Bandwidth:
    """The read rate of a dataset's own files as a first epoch meets them: ``sample`` files drawn at random
    from the whole dataset, a new draw every run, evicted first, read by ``readers`` threads at once (tf.data's
    parallel map reads as it decodes). A dataset of small files is read at the storage's rate for small reads,
    which one large sequential file does not show -- nor, on a VM, does a file just written, which the host
    still caches. The draw is new each time for the same reason: a VM host keeps what was read lately, so a
    fixed sample, read by every earlier run, comes back from its cache many times faster than an epoch reads
    the rest of the dataset from the volume itself. ``when`` says when it was read (:attr:`Bandwidth.when`)."""
    chosen = (rng or random.Random()).sample(list(paths), min(sample, len(paths)))
    evict(chosen)

    def read(path: Path) -> int:
        with open(path, "rb", buffering=0) as source:
            return len(source.read())

    storage = StorageMeter()
    storage.start()
    start = time.perf_counter()
    with ThreadPoolExecutor(max(1, readers)) as pool:
        total = sum(pool.map(read, chosen))
    elapsed = time.perf_counter() - start
    traffic = storage.stop()
    folder = os.path.commonpath([str(p) for p in chosen]) if chosen else ""
    return Bandwidth(total, 0.0, total / elapsed if elapsed > 0 else float("inf"), 0, folder, "jpegs", len(chosen),
                     round(traffic.ms_per_read, 3) if traffic else 0.0, when)
