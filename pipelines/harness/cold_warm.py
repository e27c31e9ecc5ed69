"""Cold and warm epochs: what happens around each timed epoch of a case, with the clock paused for all of it.

* ``cold``: every epoch opens a fresh pipeline (fresh cache folder, empty cache) and evicts the dataset's files
  from the page cache first -- the epoch that fills any cache, reading the JPEGs from storage.
* ``warm``: one pipeline; one untimed epoch fills its cache (the warm-up), then every epoch is a later one. A
  file cache is flushed and evicted from the page cache before each of them, so it is read from where it
  lives (the disk), as the study's 90 GB cache was; the residency left after eviction is measured.

Everything around the epochs -- opening pipelines, eviction, destroying iterators, ``model.fit``'s set-up and
tear-down -- runs with :mod:`pipelines.epoch.clock` paused, so the stored time is the work the case names.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager, ExitStack
from dataclasses import replace
from pathlib import Path
from typing import Any

from pipelines.caches.diskstats import WINDOW_S, StorageMeter
from pipelines.caches.folders import cache_bytes, cache_files
from pipelines.caches.pagecache import evict, filesystem_of, resident_fraction
from pipelines.datasets import DatasetIndex
from pipelines.epoch import clock
from pipelines.harness.cases import EPOCH_KINDS
from pipelines.epoch.run import EpochRun
from pipelines.harness.plan import RoundPlan
from pipelines.harness.rounds import TimedEpochs, time_rounds
from pipelines.epoch.faults import FaultMeter
from pipelines.epoch.teardown import drain, drain_if_ram_is_short, release_later
from pipelines.loaders import Pipeline
from pipelines.loaders.contract import Contract
from pipelines.loaders.registry import LOADER_SPECS
from pipelines.memory.measure import measure_memory
from pipelines.memory.workers import MemorySampler


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
    sample_memory: bool = True,
) -> TimedEpochs:
    """Time rounds of epochs of the kind ``epoch`` (``cold`` or ``warm``); see the module docstring.

    ``fill`` runs the untimed epoch that warms a ``warm`` case (default: ``run_epoch``); training cases pass
    a plain loader pass, since filling a cache needs no model. ``paired``: see :func:`time_rounds`.
    ``written_ahead``: for a cache written by a pass of its own while the pipeline is built
    (:attr:`~pipelines.caches.modes.CacheSpec.writes_ahead`, see :func:`sources_written_ahead`), the files that pass
    reads: a cold epoch evicts them, then times the build as part of the epoch.
    ``sample_memory``: measure the RAM the warm-up epoch's memory-cache filling costs (memory-profiler), the
    figure the RAM prediction is checked against; off where no figure reads it (a training case fills the same
    cache as its throughput case, which measures it). Disk caches are measured by their bytes on disk instead.
    """
    if epoch not in EPOCH_KINDS:
        raise ValueError(f"epoch must be 'cold' or 'warm', got {epoch!r}")
    epochs = _CaseEpochs(open_pipeline, run_epoch, tuple(written_ahead))
    with epochs:
        if epoch == "cold":
            time_rounds(benchmark, epochs.cold, plan, expected_epoch_s, into=epochs.record, paired=paired)
        else:
            epochs.warm_up(fill or run_epoch, sample_memory)
            time_rounds(benchmark, epochs.warm, plan, expected_epoch_s, into=epochs.record, paired=paired,
                        warmed_up=True)
    return epochs.record


class _CaseEpochs:
    """One case's epochs and what is noted around them: the pipeline in use and the record. Each timed epoch's
    spent iterator goes to :mod:`pipelines.epoch.teardown`'s thread as soon as the epoch ends (paused, by
    :func:`time_rounds`); the warm-up's, here."""

    def __init__(self, open_pipeline: Callable[[], AbstractContextManager[Pipeline]],
                 run_epoch: Callable[[Pipeline], EpochRun], written_ahead: tuple[Path, ...]) -> None:
        self.open_pipeline, self.run_epoch, self.written_ahead = open_pipeline, run_epoch, written_ahead
        self.stack = ExitStack()
        self.pipeline: Pipeline | None = None
        self.record = TimedEpochs()

    def __enter__(self) -> _CaseEpochs:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close_pipeline()

    def close_pipeline(self) -> None:
        """Close the pipeline and its cache folder (its last iterator is already on the tear-down thread); after
        a memory cache, wait for that tear-down when RAM is short, so that two caches never compete for it."""
        in_ram = self.pipeline is not None and self.pipeline.contract.cache_spec.in_ram
        self.stack.close()
        self.pipeline = None
        if in_ram:
            from pipelines.limits.cgroup import memory_room

            drain_if_ram_is_short(memory_room())

    def fresh_pipeline(self) -> Pipeline:
        self.close_pipeline()
        self.pipeline = self.stack.enter_context(self.open_pipeline())
        return self.pipeline

    def note_cache_size(self) -> None:
        """After the epoch that wrote a file cache: its size and the file system it is on."""
        prefix = self.pipeline.cache_prefix
        if prefix is not None and not self.record.cache_bytes:
            self.record.cache_bytes = cache_bytes(prefix)
            self.record.cache_filesystem = filesystem_of(prefix.parent)

    def finish(self, run: EpochRun) -> EpochRun:
        """After a timed epoch (whose spent iterator :func:`time_rounds` hands to the tear-down thread)."""
        self.note_cache_size()
        self.record.source_bytes = self.record.source_bytes or sum(
            p.stat().st_size for p in self.pipeline.source_paths)
        return run

    def start_meters(self) -> tuple[StorageMeter, MemorySampler, FaultMeter]:
        """What the disks do, what the loader holds in RAM (its worker processes too, where its loader declares
        them) and what the kernel spends handing this process pages during the epoch about to run."""
        workers = self.pipeline is not None and LOADER_SPECS[self.pipeline.loader].worker_processes
        meters = StorageMeter(window_s=WINDOW_S), MemorySampler(workers), FaultMeter()
        for meter in meters:
            meter.start()
        return meters

    def metered(self, run: EpochRun, meters: tuple[StorageMeter, MemorySampler, FaultMeter]) -> EpochRun:
        storage, memory, faults = meters
        self.record.note_epoch_memory(memory.stop())
        return replace(run, storage=storage.stop(), faults=faults.stop())

    def evict_sources(self, paths: list[Path]) -> None:
        evict(paths)
        self.record.note_dataset_residency(resident_fraction(paths), cold=True)

    def cold(self) -> EpochRun:
        """A fresh pipeline on files evicted from the page cache; a cache written ahead is built on the clock."""
        with clock.paused():
            self.close_pipeline()
            os.sync()  # the previous epoch's cache writes, flushed now rather than written back during this one
        built_s = 0.0
        if self.written_ahead:  # the cache's own writing pass runs when the pipeline is built: part of the epoch
            with clock.paused():
                self.evict_sources(list(self.written_ahead))
                meters = self.start_meters()
            start = clock.now()
            pipeline = self.fresh_pipeline()
            built_s = clock.now() - start
        else:
            with clock.paused():
                pipeline = self.fresh_pipeline()
                self.evict_sources(list(pipeline.source_paths))
                meters = self.start_meters()
        run = self.run_epoch(pipeline)
        with clock.paused():
            return self.finish(self.metered(replace(run, seconds=run.seconds + built_s,
                                                    first_batch_s=run.first_batch_s + built_s), meters))

    def warm_up(self, fill: Callable[[Pipeline], EpochRun], sample_memory: bool) -> None:
        """The untimed epoch that fills the cache (and traces, and fills the page cache)."""
        pipeline = self.fresh_pipeline()
        filled = _fill(pipeline, fill, self.record, sample_memory)
        release_later(filled.spent)
        self.record.untimed_images.append(filled.images)  # counted as the timed epochs are
        self.record.note_dataset_residency(resident_fraction(list(pipeline.source_paths)), cold=False)
        self.note_cache_size()

    def warm(self) -> EpochRun:
        """A later epoch of the same pipeline; a file cache is evicted first, so it is read from the disk."""
        with clock.paused():
            if self.pipeline.cache_prefix is not None:
                files = cache_files(self.pipeline.cache_prefix)
                evict(files)
                self.record.note_cache_residency(resident_fraction(files))
            meters = self.start_meters()
        run = self.run_epoch(self.pipeline)
        with clock.paused():
            return self.finish(self.metered(run, meters))


def sources_written_ahead(contract: Contract, index: DatasetIndex) -> tuple[Path, ...]:
    """What ``time_epochs(written_ahead=...)`` needs for ``contract``: the dataset's files when its cache is
    written ahead of the first epoch, else nothing."""
    return tuple(index.paths) if contract.cache_spec.writes_ahead else ()


def _fill(pipeline: Pipeline, fill: Callable[[Pipeline], EpochRun], record: TimedEpochs,
          sample_memory: bool) -> EpochRun:
    """The warm-up epoch; with a memory cache it fills it, and memory-profiler measures what that costs in RAM."""
    if not (sample_memory and pipeline.contract.cache_spec.in_ram):
        return fill(pipeline)  # traces, fills the page cache
    drain()  # no earlier pipeline's tear-down inside the measurement
    run, memory = measure_memory(fill, pipeline)
    record.peak_rss_bytes, record.rss_growth_bytes = memory.peak_rss_bytes, memory.rss_growth_bytes
    record.peak_growth_bytes = memory.peak_growth_bytes
    return run
