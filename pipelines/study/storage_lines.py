"""What the disks did during each loader epoch measured at a study's held-out size, printed beside its error:
the counters' traffic, the bytes and rate the predictor expected, and, over a long epoch, its rate minute by
minute and the predicted reads at the epoch's own rate -- so that a storage-bound miss reads as wrong bytes, a
slower volume, or the law's own error; and, where an epoch's rounds faulted in many pages or spent much of their
time in the kernel, the kernel's figures round by round, a memory cache's first epoch predicted at each round's
own pages, and the share of the cores each round held -- so that a fill's miss reads as fresh pages, an epoch
that waited, or the law's."""

from __future__ import annotations

import statistics
from typing import TYPE_CHECKING

from pipelines.caches.diskstats import STORAGE_BOUND_BUSY
from pipelines.memory.predict import predict_cache
from pipelines.study.bounds import fill_s
from pipelines.study.scaling import Point
from pipelines.study.settings import CASES_BY_ID
from pipelines.study.table import laws
from pipelines.units import format_bytes

if TYPE_CHECKING:
    from pipelines.study.result import StudyResult


def storage_lines(result: StudyResult) -> list[str]:
    """What the disks did during each loader epoch measured at the held-out size, beside its error: a miss
    the CPU law and the measured rates did not see is the storage's where the device was busy for most of the
    epoch (:attr:`~pipelines.caches.diskstats.StorageTraffic.storage_bound`)."""
    held_out = result.settings.held_out
    measured = [p for p in result.measured.points
                if held_out and p.images == held_out and p.cores is None and p.model is None and p.storage]
    if not measured:
        return []
    lines = [f"storage during the epochs at {held_out:,} (the kernel's disk counters; storage-bound: busy "
             f"{STORAGE_BOUND_BUSY:.0%} of the epoch or more):"]
    for p in measured:
        error = result.errors.get((p.case, p.epoch))
        kind = "first" if p.epoch == "cold" else "later"
        reads = result.predicted_reads.get((p.case, p.epoch))
        bands = "".join(f"; {band_text(by_key[(p.case, p.epoch)])} at {what}"
                        for what, by_key in result.bands.items() if (p.case, p.epoch) in by_key)
        lines.append(f"  {p.case} {kind} {p.median_s:.1f} s"
                     + (f" (error {100 * error:+.0f}%{bands})" if error is not None else "")
                     + f": {'storage-bound' if p.storage.storage_bound else 'not storage-bound'}, "
                     + p.storage.line()
                     + (f"; {reads_line(*reads)}" if reads and reads[0] else ""))
        windows = p.storage.windows_line()
        if windows:
            lines.append(f"    {windows}" + (f"; {own_rate_line(reads[0], p)}" if reads and reads[0] else ""))
        if kernel_worth_showing(p):
            lines.append(f"    {faults_line(p)}" + own_fill_line(result, p) + busy_line(result, p))
    return lines


def band_text(band: tuple[float, float]) -> str:
    """``-11% to -5%``, or ``+2%`` where the two ends round alike."""
    low, high = (f"{round(100 * end):+d}%" for end in band)
    return low if low == high else f"{low} to {high}"


#: Pages faulted in over an epoch's rounds from which they are shown: a memory cache's fill, not the loader's
#: own buffers.
FAULTS_SHOWN_BYTES = 100e6

#: Share of an epoch's wall time its kernel time reaches from which it is shown, whatever the faults: a file
#: cache's writes, the page cache's own pages, are the kernel's work too.
KERNEL_SHOWN_SHARE = 0.25


def kernel_worth_showing(point: Point) -> bool:
    """Whether ``point``'s rounds faulted in :data:`FAULTS_SHOWN_BYTES` or spent :data:`KERNEL_SHOWN_SHARE` of
    their time in the kernel."""
    faulted = sum(f.fault_bytes for f in point.faults)
    kernel_s = sum(f.kernel_s for f in point.faults)
    return bool(point.faults) and (faulted >= FAULTS_SHOWN_BYTES or kernel_s >= KERNEL_SHOWN_SHARE * sum(point.seconds))


def faults_line(point: Point) -> str:
    """``memory, round by round: pages faulted in (in the kernel; the epoch): 8.3 GB (27.1 s; 36.2 s), 308.0 MB
    (6.2 s; 24.8 s)``: whether each round filled fresh pages or memory the process still held from the round
    before, and what that did to its time."""
    rounds = [f"{format_bytes(f.fault_bytes)} ({f.kernel_s:.1f} s; {s:.1f} s)"
              for f, s in zip(point.faults, point.seconds)]
    return "memory, round by round: pages faulted in (in the kernel; the epoch): " + ", ".join(rounds)


def busy_line(result: StudyResult, point: Point) -> str:
    """``; cores busy 88%, 90% (97% at 1,000 images)``: the share of the cores the epoch's threads held, round by
    round, beside the median of the largest fitted size's rounds -- an epoch that waited for something other than
    its cores (storage, a throttled write) where the fitted sizes did not misses by time no CPU law sees; empty
    where it was not counted."""
    cores = result.measured.cores
    busy = [f.busy(cores) for f in point.faults]
    if not busy or None in busy:
        return ""
    shares = {p.images: [f.busy(cores) for f in p.faults] for p in result.measured.points
              if (p.case, p.epoch) == (point.case, point.epoch) and p.images != point.images
              and p.cores is None and p.model is None and p.faults}
    largest = max((n for n, fitted in shares.items() if None not in fitted), default=None)
    beside = f" ({statistics.median(shares[largest]):.0%} at {largest:,} images)" if largest else ""
    return "; cores busy " + ", ".join(f"{b:.0%}" for b in busy) + beside


def own_rate_line(predicted_bytes: float, point: Point) -> str:
    """``at its median minute's rate, the predicted reads take 1736 s (+8%)``: the storage bound with the rate the
    volume gave during the epoch itself instead of the probes' -- what is left of the miss is the law's, the
    rest the volume's change between the probes and the epoch."""
    seconds = predicted_bytes / statistics.median(point.storage.window_read_bps)
    return (f"at its median minute's rate, the predicted reads take {seconds:.0f} s "
            f"({seconds / point.median_s - 1:+.0%})")


def reads_line(predicted_bytes: float, read_bps: float) -> str:
    """``predicted 7.8 GB read an epoch at 22.9 MB/s``: what the predictor expected an epoch to read and how
    fast, beside the counters' bytes and rate -- a storage-bound miss taken apart into the two."""
    rate = f" at {format_bytes(read_bps)}/s" if read_bps > 0 else ""
    return f"predicted {format_bytes(predicted_bytes)} read an epoch{rate}"


def own_fill_line(result: StudyResult, point: Point) -> str:
    """``; at each round's own pages, its law + fresh pages predict 45.0 s (+24%), 30.2 s (+22%)``: a memory
    cache's first epoch predicted for the pages each round did fault in -- a round into memory the process kept
    from the round before pays little of its fill -- so that what is left of the miss is the law's; empty for
    other rows, or where no fill was measured."""
    case = CASES_BY_ID[point.case]
    law = laws(result.measured.points, point.images).get((point.case, point.epoch))
    contract = case.contract(result.settings.contract)
    cache = predict_cache(point.images, contract).total_bytes if contract.cache_spec.caches else 0
    per_byte = fill_s(case, point.epoch, cache, result.measured.memory_fills) / cache if cache else 0.0
    if not (law and per_byte):
        return ""
    predicted = [law.seconds(point.images) + f.fault_bytes * per_byte for f in point.faults]
    return "; at each round's own pages, its law + fresh pages predict " + ", ".join(
        f"{p:.1f} s ({p / s - 1:+.0%})" for p, s in zip(predicted, point.seconds))
