"""Rounds of whole epochs under pytest-benchmark, and what they record.

A round is one or more whole epochs, and pytest-benchmark stores the time of **one epoch** (its ``iterations``
divide a round's time, as pyperf's loops do), so rounds of different lengths stay comparable across runs.

Calibration, like pyperf's: two untimed epochs (the faster counts: the first can carry one-time costs) or, for
training, the model-only epoch, which no training epoch can beat, tell how many whole epochs make a round of at
least ``min_round_s``; that count is fixed for the case's rounds. What happens around each epoch (fresh
pipelines, eviction, warm-up) is :mod:`pipelines.harness.cold_warm`'s.

This module takes the ``benchmark`` fixture as a plain object; it imports nothing from pytest.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from pipelines.caches.diskstats import StorageTraffic
from pipelines.caches.pagecache import RESIDENT_AT
from pipelines.epoch import clock
from pipelines.harness.contention import Contention, ContentionMeter
from pipelines.epoch.run import EpochRun
from pipelines.harness.plan import RoundPlan
from pipelines.memory.workers import EpochMemory
from pipelines.epoch.teardown import release_later
from pipelines.units import relative_spread

#: Untimed epochs that calibrate a case's epochs per round (the faster one counts).
CALIBRATION_EPOCHS = 2


@dataclass
class TimedEpochs:
    """What the rounds of one case did.

    Attributes:
        runs: one :class:`EpochRun` per timed epoch (calibration and warm-up epochs excluded).
        untimed_images: images seen by each untimed epoch of the case, in order (the warm-up that fills a cache,
            then calibration): held to the dataset's count as the timed ones are (:mod:`pipelines.harness.complete`).
        epochs_per_round: whole epochs in each round (pytest-benchmark's ``iterations``).
        round_seconds: seconds per epoch of each round, as stored by pytest-benchmark.
        paired_seconds: with a paired reference (:mod:`pipelines.epoch.reference`), seconds per pass of the reference
            round timed right after each round, in the same order; a gate divides one by the other.
        page_cache: where the timed epochs read the dataset's files from: ``evicted`` (cold, verified),
            ``not-evicted`` (cold, but eviction did not take: a RAM-backed file system, say), ``warm``.
        page_cache_resident: highest share of the dataset's pages resident before a timed epoch.
        cache_bytes: file cache size on disk after its first epoch (0 without a file cache).
        cache_resident: file cache only: highest share of the cache files' pages resident before a timed warm
            epoch, after they were flushed and evicted (about 0 when read from disk).
        cache_filesystem: file cache only: the file system type holding it (``tmpfs`` means RAM).
        source_bytes: bytes of the files an epoch reads (the JPEGs, or a loader's own files: TFRecord shards).
        peak_rss_bytes, rss_growth_bytes, peak_growth_bytes: memory-profiler's figures for the epoch that filled
            the cache (``warm`` cases with a cache; timed epochs are not sampled, so sampling cannot slow them).
        contention: what other processes and the hypervisor took of the machine during the timed rounds
            (:mod:`pipelines.harness.contention`): a gate reads it to know whether the rounds can be judged.
        process_peak_rss_bytes, workers_peak_rss_bytes: the highest RSS of this process, and of the loader's
            worker processes summed (loaders that declare them; ``None`` otherwise), sampled during the case's
            epochs (:mod:`pipelines.memory.workers`).
    """

    runs: list[EpochRun] = field(default_factory=list)
    untimed_images: list[int] = field(default_factory=list)
    epochs_per_round: int = 1
    round_seconds: list[float] = field(default_factory=list)
    paired_seconds: list[float] = field(default_factory=list)
    page_cache: str = "warm"
    page_cache_resident: float | None = None
    cache_bytes: int = 0
    cache_resident: float | None = None
    cache_filesystem: str | None = None
    source_bytes: int = 0
    peak_rss_bytes: int | None = None
    rss_growth_bytes: int | None = None
    peak_growth_bytes: int | None = None
    contention: Contention | None = None
    process_peak_rss_bytes: int | None = None
    workers_peak_rss_bytes: int | None = None

    def note_epoch_memory(self, memory: EpochMemory) -> None:
        self.process_peak_rss_bytes = max(self.process_peak_rss_bytes or 0, memory.process_peak_bytes)
        if memory.workers_peak_bytes is not None:
            self.workers_peak_rss_bytes = max(self.workers_peak_rss_bytes or 0, memory.workers_peak_bytes)

    @property
    def storage(self) -> StorageTraffic | None:
        """What the disks did over the timed epochs together, where each was measured."""
        measured = [run.storage for run in self.runs]
        return sum(measured[1:], measured[0]) if measured and None not in measured else None

    @property
    def epoch_images(self) -> list[int]:
        """Images seen by every epoch of the case, untimed then timed: what
        :func:`~pipelines.harness.complete.incomplete_info` holds to the dataset's count."""
        return self.untimed_images + [run.images for run in self.runs]

    @property
    def images(self) -> int:
        """Images seen per epoch; every timed epoch must have seen the same number."""
        counts = {run.images for run in self.runs}
        if len(counts) != 1:
            raise AssertionError(f"rounds saw different image counts: {sorted(counts)}")
        return counts.pop()

    def median_seconds(self) -> float:
        """Median over rounds of the seconds per epoch: the one statistic every case and reference reports."""
        return statistics.median(self.round_seconds or [run.seconds for run in self.runs])

    def spread(self) -> float:
        """Half the range of the rounds' epoch times over their median (``0.04`` prints as ``±4%``)."""
        return relative_spread(self.round_seconds or [run.seconds for run in self.runs])

    def images_per_sec(self) -> float:
        return self.images / self.median_seconds()

    def median_first_batch_s(self) -> float:
        return statistics.median(run.first_batch_s for run in self.runs)

    def median_overhead_s(self) -> float:
        return statistics.median(run.overhead_s for run in self.runs)

    def note_dataset_residency(self, fraction: float | None, cold: bool) -> None:
        """Record the share of the JPEGs resident before an epoch; the worst decides what a cold case read."""
        if fraction is not None:
            self.page_cache_resident = max(fraction, self.page_cache_resident or 0.0)
        if cold:
            evicted = self.page_cache_resident is not None and self.page_cache_resident < RESIDENT_AT
            self.page_cache = "evicted" if evicted else ("unknown" if fraction is None else "not-evicted")

    def note_cache_residency(self, fraction: float | None) -> None:
        """Record the share of a file cache resident (after eviction) before a warm epoch; the worst is kept."""
        if fraction is not None:
            self.cache_resident = max(fraction, self.cache_resident or 0.0)


class OffRecordBenchmark:
    """pytest-benchmark's ``pedantic`` without pytest: the same rounds and iterations on the same clock, for
    a reference figure that a case needs when the reference's own benchmark was deselected (``-k``)."""

    stats = None

    def __init__(self) -> None:
        self.round_seconds: list[float] = []

    def pedantic(self, target, args=(), kwargs=None, setup=None, teardown=None, rounds=1, warmup_rounds=0,
                 iterations=1):
        for _ in range(rounds):
            if setup:
                args, kwargs = setup()
            start = clock.now()
            for _ in range(iterations):
                target(*args, **(kwargs or {}))
            self.round_seconds.append((clock.now() - start) / iterations)
            if teardown:
                teardown(*args, **(kwargs or {}))


def time_rounds(benchmark: Any, one_epoch: Callable[[], EpochRun], plan: RoundPlan,
                expected_epoch_s: float | None = None, into: TimedEpochs | None = None,
                paired: Callable[[], EpochRun] | None = None, warmed_up: bool = False) -> TimedEpochs:
    """Calibrate, then time ``plan.rounds`` rounds of whole epochs of ``one_epoch`` (see the module docstring).

    ``one_epoch`` does its own preparation with the clock paused and returns the epoch it ran.
    ``expected_epoch_s``: a lower bound of one epoch's time known beforehand; when it alone fills a round, no
    calibration epoch is run (a training epoch is at least the model-only epoch: minutes saved per run).
    ``into``: a record to fill (one that already holds what the caller noted about the case), else a new one.
    ``warmed_up``: an untimed epoch of the same pipeline has just run (a warm case's warm-up), so one-time
    costs are paid and one calibration epoch is enough.
    ``paired``: a reference pass (:class:`~pipelines.epoch.reference.CpuProbe`) timed after each round with the clock
    paused, enough passes for half a round, so case and reference alternate (``paired_seconds``).
    """
    result = into if into is not None else TimedEpochs()

    def untimed() -> EpochRun:
        run = _settled(one_epoch())
        result.untimed_images.append(run.images)  # counted: a calibration epoch that lost images is a fault too
        return run

    per_round = _calibrate(untimed, plan, expected_epoch_s, warmed_up)
    reference_round = _paired_round(paired, plan) if paired else None
    runs: list[EpochRun] = []
    paired_seconds: list[float] = []

    def target() -> None:
        if len(runs) >= plan.rounds * per_round:
            return  # pytest-benchmark's extra, untimed call after looped rounds (for a return value): no epoch
        runs.append(_settled(one_epoch()))
        if reference_round and len(runs) % per_round == 0:
            with clock.paused():
                paired_seconds.append(reference_round())

    meter = ContentionMeter()
    meter.start()
    benchmark.pedantic(target, rounds=plan.rounds, iterations=per_round, warmup_rounds=0)
    result.contention = meter.stop()
    disabled = len(runs) < plan.rounds * per_round  # --benchmark-disable: one call, nothing timed
    result.runs = runs
    result.epochs_per_round = 1 if disabled else per_round
    result.round_seconds = [] if disabled else _round_seconds(benchmark, result.runs, per_round)
    result.paired_seconds = [] if disabled else paired_seconds
    return result


def _calibrate(one_epoch: Callable[[], EpochRun], plan: RoundPlan, expected_epoch_s: float | None,
               warmed_up: bool) -> int:
    """Whole epochs per round, from untimed calibration epochs: the faster of ``CALIBRATION_EPOCHS``, since the
    first can carry one-time costs (tracing). No calibration epoch when one is known to fill a round
    (``expected_epoch_s``); one when a warm-up has paid those costs already, or when the first alone lasts two
    rounds (one-time costs would have to be half of it to mislead)."""
    if plan.min_round_s <= 0 or (expected_epoch_s is not None and expected_epoch_s >= plan.min_round_s):
        return 1  # any epoch fills a round: nothing to calibrate
    fastest = one_epoch().seconds
    if warmed_up or fastest >= 2 * plan.min_round_s:
        return plan.epochs_per_round(fastest)
    for _ in range(CALIBRATION_EPOCHS - 1):
        fastest = min(fastest, one_epoch().seconds)
    return plan.epochs_per_round(fastest)


def _settled(run: EpochRun) -> EpochRun:
    """``run``, its spent iterator handed to :mod:`pipelines.epoch.teardown`'s thread (paused): kept, a
    whole round's iterators would pile up; destroyed here, each would wait for its autotuner."""
    if run.spent:
        with clock.paused():
            release_later(run.spent)
    return run


def _paired_round(paired: Callable[[], EpochRun], plan: RoundPlan) -> Callable[[], float]:
    """A round of the paired reference: passes enough for half a case round (calibrated like a case), timed
    by their own clock; returns seconds per pass."""
    half = replace(plan, min_round_s=plan.min_round_s / 2)
    passes = half.epochs_per_round(min(paired().seconds for _ in range(CALIBRATION_EPOCHS)))

    def one_round() -> float:
        return sum(paired().seconds for _ in range(passes)) / passes

    return one_round


def _round_seconds(benchmark: Any, runs: list[EpochRun], per_round: int) -> list[float]:
    """pytest-benchmark's stored per-epoch round times; ours (grouped runs) where it kept none."""
    stats = getattr(benchmark, "stats", None)
    data = getattr(getattr(stats, "stats", None), "data", None)
    if data:
        return list(data)
    data = getattr(benchmark, "round_seconds", None)
    if data:
        return list(data)
    return [sum(r.seconds for r in runs[i:i + per_round]) / per_round for i in range(0, len(runs), per_round)]
