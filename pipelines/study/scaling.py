"""Scaling measurements: each study case's cold and warm epochs on datasets of the same shape at several sizes.

Every size is a dataset of its own (generated once and reused, as ``pytest benchmarks --images N`` does): two of
the loaders read the folder itself, so a subset of one folder cannot stand in for a smaller dataset. Epochs are
timed by the benchmark harness (:func:`pipelines.harness.cold_warm.time_epochs`) exactly as the benchmark cases are --
cold epochs on a fresh pipeline with the files evicted, warm ones after a filling epoch with file caches
evicted -- so a study point and a benchmark case of the same size measure the same thing.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from pipelines.caches.diskstats import StorageTraffic
from pipelines.epoch.faults import PageFaults
from pipelines.harness.cases import Case
from pipelines.harness.plan import RoundPlan
from pipelines.loaders.contract import Contract
from pipelines.datasets import DatasetIndex
from pipelines.harness.cases import EPOCH_KINDS
from pipelines.harness.cold_warm import sources_written_ahead, time_epochs
from pipelines.harness.rounds import OffRecordBenchmark
from pipelines.units import relative_spread
from pipelines.loaders import open_pipeline
from pipelines.loaders.registry import LOADER_SPECS
from pipelines.epoch.run import EpochRun, run_epoch
from pipelines.training import fit_epoch
from pipelines.study.settings import STUDY_CASES  # the study's rows, declared with its settings

@dataclass(frozen=True)
class Point:
    """One case's epochs of one kind on one dataset size.

    Attributes:
        case: the case id (``tfdata-file-uint8``).
        epoch: ``cold`` (a first epoch, filling any cache) or ``warm`` (a later one).
        images: the dataset's image count.
        seconds: seconds per epoch of each round.
        cache_bytes: bytes on disk of a file cache (0 otherwise).
        dataset_bytes: bytes of the dataset's JPEGs.
        cores: the cores it ran on when pinned to fewer than all (:mod:`pipelines.study.levels`); ``None``: all.
        model: the model trained for one ``model.fit`` epoch a round (its name); ``None``: the loader's epochs
            alone.
        storage: what the disks did over its timed epochs (:mod:`pipelines.caches.diskstats`), where measured:
            the measurement that says whether a missed prediction was the storage's doing.
        faults: this process's page faults an epoch in each round (:mod:`pipelines.epoch.faults`): what
            filling memory cost the kernel, which says whether a round filled fresh pages or reused memory, and
            the kernel's share of its time.
    """

    case: str
    epoch: str
    images: int
    seconds: tuple[float, ...]
    cache_bytes: int
    dataset_bytes: int
    cores: int | None = None
    model: str | None = None
    storage: StorageTraffic | None = None
    faults: tuple[PageFaults, ...] = ()

    def __post_init__(self) -> None:
        if isinstance(self.storage, dict):  # as study.json saved it
            object.__setattr__(self, "storage", StorageTraffic(**self.storage))
        object.__setattr__(self, "faults", tuple(PageFaults(**f) if isinstance(f, dict) else f for f in self.faults))

    @property
    def median_s(self) -> float:
        return statistics.median(self.seconds)

    @property
    def spread(self) -> float:
        return relative_spread(self.seconds)


def measure_point(case: Case, epoch: str, index: DatasetIndex, base: Contract, plan: RoundPlan,
                  model: Any = None) -> Point:
    """Time ``plan``'s rounds of ``case``'s epochs on ``index``: the loader's alone, or, given a Keras
    ``model``, ``model.fit`` epochs fed by it, as the benchmarks' training cases time them (a cache is filled
    by a loader pass: filling needs no model), with each round's page faults an epoch."""
    contract = case.contract(base)
    epoch_of = run_epoch if model is None else (lambda pipeline: fit_epoch(model, pipeline))
    timed = time_epochs(OffRecordBenchmark(), lambda: open_pipeline(case.loader, index, contract), epoch_of,
                        epoch, plan, fill=run_epoch,
                        written_ahead=sources_written_ahead(contract, index))
    if timed.images != index.images:
        raise RuntimeError(f"{case.id} {epoch}: an epoch saw {timed.images} of {index.images} images")
    return Point(case.id, epoch, index.images, tuple(timed.round_seconds), timed.cache_bytes, index.bytes,
                 model=None if model is None else model.name, storage=timed.storage,
                 faults=per_round_faults(timed.runs, timed.epochs_per_round))


def per_round_faults(runs: Sequence[EpochRun], epochs_per_round: int) -> tuple[PageFaults, ...]:
    """The page faults of an epoch of each round of ``runs``' epochs (:meth:`PageFaults.per_epoch`), as the
    rounds' seconds are kept; none where an epoch was not counted."""
    if not runs or not all(run.faults for run in runs):
        return ()
    return tuple(PageFaults.per_epoch([run.faults for run in runs[i:i + epochs_per_round]])
                 for i in range(0, len(runs), epochs_per_round))


def uninstalled(case: Case, index: DatasetIndex | None = None) -> str | None:
    """Why ``case``'s loader cannot run on this installation (its optional package is absent), or None."""
    return LOADER_SPECS[case.loader].missing()


def measure_sizes(indexes: Iterable[DatasetIndex], base: Contract, plan: RoundPlan,
                  cases: tuple[Case, ...] = STUDY_CASES,
                  progress: Callable[[str], None] = lambda step: None, model: Any = None,
                  skip: Callable[[Case, DatasetIndex], str | None] | None = None,
                  checkpoint: Any = None) -> list[Point]:
    """Every case x epoch kind on every dataset (training ``model`` if given), but those ``skip`` gives a reason
    for (a cache this machine cannot hold; by default, a loader whose optional package is not installed:
    :func:`uninstalled`); ``progress`` is told each point once it is measured or skipped. With a
    ``checkpoint`` (:class:`~pipelines.study.checkpoint.Checkpoint`, or its second pass), a point it holds is
    taken from it, and every point measured is kept in it."""
    skip = skip or uninstalled
    points = []
    for index in indexes:
        for case in cases:
            skipped = skip(case, index)
            for epoch in EPOCH_KINDS:
                if not skipped:
                    kept = checkpoint and checkpoint.take(case.id, epoch, index.images, getattr(model, "name", None))
                    points.append(kept or measure_point(case, epoch, index, base, plan, model))
                    if checkpoint and not kept:
                        checkpoint.keep(points[-1])
                progress(f"{case.id}-{epoch}{' training' if model is not None else ''} on {index.images:,} images"
                         + (" skipped" if skipped else ""))
    return points
