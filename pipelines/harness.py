"""Cold and warm epochs under pytest-benchmark, with the same bookkeeping for throughput and training cases.

A round is exactly one epoch (``benchmark.pedantic``, never calibrated loops):

* ``cold``: every round opens a fresh pipeline (fresh cache folder, empty cache), evicts the dataset's files
  from the page cache and times its first epoch -- the one that fills any cache.
* ``warm``: one pipeline; one untimed epoch fills its cache (that is the warm-up), then every round is a later
  epoch.

This module takes the ``benchmark`` fixture as a plain object; it imports nothing from pytest.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable
from contextlib import AbstractContextManager, ExitStack
from dataclasses import dataclass, field, replace
from typing import Any

from pipelines.cache import cache_bytes
from pipelines.loaders import Pipeline
from pipelines.measure import EpochRun
from pipelines.memory.measure import measure_memory
from pipelines.pagecache import evict, page_cache_state


@dataclass
class TimedEpochs:
    """What the rounds of one case did.

    Attributes:
        runs: one :class:`EpochRun` per timed round.
        page_cache: ``evicted``/``warm``: where the first timed epoch read the files from (measured).
        page_cache_resident: share of the dataset's pages resident just before that epoch.
        cache_bytes: file cache size on disk after its first epoch (0 without a file cache).
        peak_rss_bytes, rss_growth_bytes, peak_growth_bytes: memory-profiler's figures for the epoch that filled
            the cache (``warm`` cases with a cache; the timed cold epochs are not sampled, so sampling cannot
            slow them).
    """

    runs: list[EpochRun] = field(default_factory=list)
    page_cache: str = "warm"
    page_cache_resident: float | None = None
    cache_bytes: int = 0
    peak_rss_bytes: int | None = None
    rss_growth_bytes: int | None = None
    peak_growth_bytes: int | None = None

    @property
    def images(self) -> int:
        """Images seen per round; every round must have seen the same number."""
        counts = {run.images for run in self.runs}
        if len(counts) != 1:
            raise AssertionError(f"rounds saw different image counts: {sorted(counts)}")
        return counts.pop()

    def median_seconds(self) -> float:
        return statistics.median(run.seconds for run in self.runs)

    def median_first_batch_s(self) -> float:
        return statistics.median(run.first_batch_s for run in self.runs)

    def median_overhead_s(self) -> float:
        return statistics.median(run.overhead_s for run in self.runs)


def time_epochs(
    benchmark: Any,
    open_pipeline: Callable[[], AbstractContextManager[Pipeline]],
    run_epoch: Callable[[Pipeline], EpochRun],
    epoch: str,
    rounds: int,
    fill: Callable[[Pipeline], EpochRun] | None = None,
) -> TimedEpochs:
    """Time ``rounds`` epochs of the kind ``epoch`` (``cold`` or ``warm``); see the module docstring.

    ``fill`` runs the untimed epoch that warms a ``warm`` case (default: ``run_epoch``); training cases pass
    a plain loader pass, since filling a cache needs no model.
    """
    if epoch not in ("cold", "warm"):
        raise ValueError(f"epoch must be 'cold' or 'warm', got {epoch!r}")
    result = TimedEpochs()
    stack = ExitStack()
    current: list[Pipeline] = []  # the open pipeline (only one: an older one would keep its memory cache alive)

    def fresh_pipeline() -> Pipeline:
        stack.close()  # the previous round's pipeline and its cache folder
        current[:] = [stack.enter_context(open_pipeline())]
        return current[0]

    def after_round(pipeline: Pipeline) -> None:  # outside the timer
        # Let go of the exhausted iterator now (run_epoch kept it so its tear-down missed the timer): held over
        # several rounds, iterators would keep their pipelines' memory caches alive too.
        result.runs[-1] = replace(result.runs[-1], keepalive=None)
        if pipeline.cache_prefix is not None and not result.cache_bytes:
            result.cache_bytes = cache_bytes(pipeline.cache_prefix)

    def timed(pipeline: Pipeline) -> None:
        result.runs.append(run_epoch(pipeline))

    with stack:
        if epoch == "cold":
            def setup() -> tuple[tuple[Pipeline], dict]:
                pipeline = fresh_pipeline()
                evict(pipeline.index.paths)
                if not result.runs:
                    result.page_cache, result.page_cache_resident = page_cache_state(list(pipeline.index.paths))
                return (pipeline,), {}

            benchmark.pedantic(timed, setup=setup, teardown=after_round, rounds=rounds, warmup_rounds=0)
        else:
            pipeline = fresh_pipeline()
            if pipeline.contract.cache == "none":
                (fill or run_epoch)(pipeline)  # the warm-up: traces, fills the page cache
            else:  # the warm-up fills the cache: measure what that costs in RAM
                _, memory = measure_memory(fill or run_epoch, pipeline)
                result.peak_rss_bytes, result.rss_growth_bytes = memory.peak_rss_bytes, memory.rss_growth_bytes
                result.peak_growth_bytes = memory.peak_growth_bytes
            if pipeline.cache_prefix is not None:
                result.cache_bytes = cache_bytes(pipeline.cache_prefix)
            result.page_cache, result.page_cache_resident = page_cache_state(list(pipeline.index.paths))
            benchmark.pedantic(timed, args=(pipeline,), teardown=after_round, rounds=rounds, warmup_rounds=0)
        if result.runs and result.runs[-1].keepalive is not None:
            after_round(current[0])  # --benchmark-disable runs the target once, without its teardown
    return result


def images_per_sec(benchmark: Any, timed: TimedEpochs) -> float:
    """Images in a round / median round time (pytest-benchmark's when it timed, ours with --benchmark-disable)."""
    stats = getattr(benchmark, "stats", None)
    median = stats.stats.median if stats else timed.median_seconds()
    return timed.images / median
