"""Cold and warm epochs under pytest-benchmark, with the same bookkeeping for every case and reference.

A round is one or more whole epochs, and pytest-benchmark stores the time of **one epoch** (its ``iterations``
divide a round's time, as pyperf's loops do), so rounds of different lengths stay comparable across runs:

* ``cold``: every epoch opens a fresh pipeline (fresh cache folder, empty cache) and evicts the dataset's files
  from the page cache first -- the epoch that fills any cache, reading the JPEGs from storage.
* ``warm``: one pipeline; one untimed epoch fills its cache (the warm-up), then every epoch is a later one. A
  file cache is flushed and evicted from the page cache before each of them, so it is read from where it
  lives (the disk), as the study's 90 GB cache was; the residency left after eviction is measured.

Calibration, like pyperf's: two untimed epochs (the faster counts: the first can carry one-time costs) or, for
training, the model-only epoch, which no training epoch can beat, tell how many whole epochs make a round of at
least ``min_round_s``; that count is fixed for the case's rounds. Everything around the epochs -- opening
pipelines, eviction, destroying iterators, ``model.fit``'s set-up and tear-down -- runs with
:mod:`pipelines.clock` paused, so the stored time is the work the case names.

This module takes the ``benchmark`` fixture as a plain object; it imports nothing from pytest.
"""

from __future__ import annotations

import os
import statistics
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager, ExitStack
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from pipelines import clock
from pipelines.cache import cache_bytes, cache_files
from pipelines.config import Contract, RoundPlan
from pipelines.contention import Contention, ContentionMeter
from pipelines.datasets import DatasetIndex
from pipelines.loaders import Pipeline
from pipelines.measure import EpochRun
from pipelines.memory.measure import measure_memory
from pipelines.pagecache import RESIDENT_AT, evict, filesystem_of, resident_fraction

EPOCH_KINDS = ("cold", "warm")

#: Untimed epochs that calibrate a case's epochs per round (the faster one counts).
CALIBRATION_EPOCHS = 2


@dataclass
class TimedEpochs:
    """What the rounds of one case did.

    Attributes:
        runs: one :class:`EpochRun` per timed epoch (calibration and warm-up epochs excluded).
        epochs_per_round: whole epochs in each round (pytest-benchmark's ``iterations``).
        round_seconds: seconds per epoch of each round, as stored by pytest-benchmark.
        paired_seconds: with a paired reference (:mod:`pipelines.probe`), seconds per pass of the reference
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
            (:mod:`pipelines.contention`): a gate reads it to know whether the rounds can be judged.
    """

    runs: list[EpochRun] = field(default_factory=list)
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


def relative_spread(values: Sequence[float]) -> float:
    """``(max - min) / 2 / median``: the ± a person reads next to a median; 0 for one value."""
    if not values:
        return float("nan")
    middle = statistics.median(values)
    return (max(values) - min(values)) / 2 / middle if middle > 0 else float("nan")


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
                paired: Callable[[], EpochRun] | None = None) -> TimedEpochs:
    """Calibrate, then time ``plan.rounds`` rounds of whole epochs of ``one_epoch`` (see the module docstring).

    ``one_epoch`` does its own preparation with the clock paused and returns the epoch it ran.
    ``expected_epoch_s``: a lower bound of one epoch's time known beforehand; when it alone fills a round, no
    calibration epoch is run (a training epoch is at least the model-only epoch: minutes saved per run).
    ``into``: a record to fill (one that already holds what the caller noted about the case), else a new one.
    ``paired``: a reference pass (:class:`~pipelines.probe.CpuProbe`) timed after each round with the clock
    paused, enough passes for half a round, so case and reference alternate (``paired_seconds``).
    """
    result = into if into is not None else TimedEpochs()
    if plan.min_round_s <= 0 or (expected_epoch_s is not None and expected_epoch_s >= plan.min_round_s):
        per_round = 1  # any epoch fills a round: nothing to calibrate
    else:  # untimed calibration epochs; the faster, since the first can carry one-time costs (tracing)
        per_round = plan.epochs_per_round(min(one_epoch().seconds for _ in range(CALIBRATION_EPOCHS)))
    reference_round = _paired_round(paired, plan) if paired else None
    runs: list[EpochRun] = []
    paired_seconds: list[float] = []

    def target() -> None:
        runs.append(one_epoch())
        if reference_round and len(runs) % per_round == 0:
            with clock.paused():
                paired_seconds.append(reference_round())

    meter = ContentionMeter()
    meter.start()
    benchmark.pedantic(target, rounds=plan.rounds, iterations=per_round, warmup_rounds=0)
    result.contention = meter.stop()
    disabled = len(runs) < plan.rounds * per_round  # --benchmark-disable: one call, nothing timed
    # With iterations > 1, pytest-benchmark makes one more, untimed call after the rounds: not a round's epoch.
    result.runs = runs if disabled else runs[: plan.rounds * per_round]
    result.epochs_per_round = 1 if disabled else per_round
    result.round_seconds = [] if disabled else _round_seconds(benchmark, result.runs, per_round)
    result.paired_seconds = [] if disabled else paired_seconds[: plan.rounds]
    return result


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


def time_epochs(
    benchmark: Any,
    open_pipeline: Callable[[], AbstractContextManager[Pipeline]],
    run_epoch: Callable[[Pipeline], EpochRun],
    epoch: str,
    plan: RoundPlan,
    fill: Callable[[Pipeline], EpochRun] | None = None,
    expected_epoch_s: float | None = None,
    paired: Callable[[], EpochRun] | None = None,
    written_ahead: Sequence[Path] = (),
) -> TimedEpochs:
    """Time rounds of epochs of the kind ``epoch`` (``cold`` or ``warm``); see the module docstring.

    ``fill`` runs the untimed epoch that warms a ``warm`` case (default: ``run_epoch``); training cases pass
    a plain loader pass, since filling a cache needs no model. ``paired``: see :func:`time_rounds`.
    ``written_ahead``: for a cache written by a pass of its own while the pipeline is built
    (:attr:`~pipelines.config.CacheSpec.writes_ahead`, see :func:`sources_written_ahead`), the files that pass
    reads: a cold epoch evicts them, then times the build as part of the epoch.
    """
    if epoch not in EPOCH_KINDS:
        raise ValueError(f"epoch must be 'cold' or 'warm', got {epoch!r}")
    writes_ahead = bool(written_ahead)
    stack = ExitStack()
    state: dict[str, Any] = {"pipeline": None, "last": None}
    record = TimedEpochs()

    def release_last_iterator() -> None:
        # run_epoch keeps the exhausted iterator so that its tear-down (which can wait for tf.data's autotuner)
        # misses the timer; it is let go here, paused. Held longer, it would keep a memory cache alive.
        state["last"] = None

    def fresh_pipeline() -> Pipeline:
        release_last_iterator()
        stack.close()  # the previous pipeline and its cache folder
        state["pipeline"] = stack.enter_context(open_pipeline())
        return state["pipeline"]

    def note_cache_size(pipeline: Pipeline) -> None:  # after the epoch that wrote a file cache
        if pipeline.cache_prefix is not None and not record.cache_bytes:
            record.cache_bytes = cache_bytes(pipeline.cache_prefix)
            record.cache_filesystem = filesystem_of(pipeline.cache_prefix.parent)

    def finish(run: EpochRun, pipeline: Pipeline) -> EpochRun:
        state["last"] = run.keepalive
        note_cache_size(pipeline)
        record.source_bytes = record.source_bytes or sum(p.stat().st_size for p in pipeline.source_paths)
        return replace(run, keepalive=None)

    def evict_sources(paths: list[Path]) -> None:
        evict(paths)
        record.note_dataset_residency(resident_fraction(paths), cold=True)

    def cold_epoch() -> EpochRun:
        with clock.paused():
            release_last_iterator()
            stack.close()  # the previous pipeline and its cache folder
            os.sync()  # the previous epoch's cache writes, flushed now rather than written back during this one
        built_s = 0.0
        if writes_ahead:  # the cache's own writing pass runs when the pipeline is built: part of the first epoch
            with clock.paused():
                evict_sources(list(written_ahead))
            start = clock.now()
            pipeline = fresh_pipeline()
            built_s = clock.now() - start
        else:
            with clock.paused():
                pipeline = fresh_pipeline()
                evict_sources(list(pipeline.source_paths))
        run = run_epoch(pipeline)
        with clock.paused():
            return finish(replace(run, seconds=run.seconds + built_s, first_batch_s=run.first_batch_s + built_s),
                          pipeline)

    def warm_epoch() -> EpochRun:
        pipeline = state["pipeline"]
        with clock.paused():
            release_last_iterator()
            if pipeline.cache_prefix is not None:
                files = cache_files(pipeline.cache_prefix)
                evict(files)
                record.note_cache_residency(resident_fraction(files))
        run = run_epoch(pipeline)
        with clock.paused():
            return finish(run, pipeline)

    with stack:
        if epoch == "cold":
            time_rounds(benchmark, cold_epoch, plan, expected_epoch_s, into=record, paired=paired)
        else:
            pipeline = fresh_pipeline()
            filled = _fill(pipeline, fill or run_epoch, record)
            state["last"] = filled.keepalive
            record.note_dataset_residency(resident_fraction(list(pipeline.source_paths)), cold=False)
            note_cache_size(pipeline)
            time_rounds(benchmark, warm_epoch, plan, expected_epoch_s, into=record, paired=paired)
        release_last_iterator()
    return record


def sources_written_ahead(contract: Contract, index: DatasetIndex) -> tuple[Path, ...]:
    """What ``time_epochs(written_ahead=...)`` needs for ``contract``: the dataset's files when its cache is
    written ahead of the first epoch, else nothing."""
    return tuple(index.paths) if contract.cache_spec.writes_ahead else ()


def _fill(pipeline: Pipeline, fill: Callable[[Pipeline], EpochRun], record: TimedEpochs) -> EpochRun:
    """The warm-up epoch; with a cache it fills it, and memory-profiler measures what that costs in RAM."""
    if not pipeline.contract.cache_spec.caches:
        return fill(pipeline)  # traces, fills the page cache
    run, memory = measure_memory(fill, pipeline)
    record.peak_rss_bytes, record.rss_growth_bytes = memory.peak_rss_bytes, memory.rss_growth_bytes
    record.peak_growth_bytes = memory.peak_growth_bytes
    return run
