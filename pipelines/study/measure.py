"""Step 1: measure the sizes -- every row's first and later epochs on datasets of the preset's shape at a few
sizes (and the held-out one), the storage's rates, and the model alone.

Every size is a dataset of its own, generated once and reused (two loaders read the folder itself). Epochs are
timed by the benchmarks' harness (:func:`pipelines.harness.cold_warm.time_epochs`), so a study point and a
benchmark case of the same size measure the same thing. A row whose cache this machine (or ``--ram-limit``)
cannot hold is not measured there: a 70 GB memory cache on a 24 GB machine would take the machine down.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import psutil
from tqdm import tqdm

from pipelines.caches.bandwidth import Bandwidth, measure_bandwidth, measure_file_reads
from pipelines.datasets import DatasetIndex, prepare_dataset
from pipelines.datasets.presets import PRESETS, default_data_root
from pipelines.epoch.teardown import drain
from pipelines.harness.cases import EPOCH_KINDS, Case
from pipelines.harness.plan import RoundPlan
from pipelines.harness.rounds import OffRecordBenchmark
from pipelines.limits.session import LimitedRun
from pipelines.loaders.registry import LOADER_SPECS
from pipelines.machine import available_cores
from pipelines.memory.predict import available_ram, exceeds_budget, exceeds_disk, free_disk, predict_cache
from pipelines.study.bound import sizes_to_measure
from pipelines.study.checkpoint import Checkpoint, Point
from pipelines.study.settings import STUDY_CASES, StudySettings
from pipelines.training import ModelSpec, model_name


@dataclass(frozen=True)
class Unmeasured:
    """A row not measured at a size, and why; ``outcome``: with ``--run-exceeding``, what it did under the limit."""

    case: str
    images: int
    reason: str
    outcome: dict | None = None

    def line(self) -> str:
        from pipelines.limits.probe import Outcome

        said = Outcome(**{**self.outcome, "seconds": tuple(self.outcome["seconds"])}).line() if self.outcome else None
        return f"{self.case} at {self.images:,} images not measured: {self.reason}" + (
            f"; run anyway: {said}" if said else "")


@dataclass(frozen=True)
class Measured:
    """What a study measured, and the machine as it was (``resident_bytes``: the study's own memory, which the
    page cache does not get; ``free_disk_bytes`` before any cache), so that ``--points`` predicts from it."""

    points: list[Point]
    cores: int
    model: str | None = None
    model_images_per_sec: float | None = None
    device: str | None = None
    source: Path | None = None
    unmeasured: list[Unmeasured] = field(default_factory=list)
    limits: dict | None = None
    bandwidths: list[Bandwidth] = field(default_factory=list)
    resident_bytes: int = 0
    free_disk_bytes: int = 0


class _Holdable:
    """Why a row cannot be measured at a size (not installed; its cache does not fit the RAM available now or
    the free disk; with ``--run-exceeding``, run anyway under the limit), kept in ``unmeasured``."""

    def __init__(self, settings: StudySettings, limited: LimitedRun | None) -> None:
        self.settings, self.limited, self.unmeasured, self.reasons = settings, limited, [], {}

    def __call__(self, case: Case, index: DatasetIndex) -> str | None:
        if (case.id, index.images) not in self.reasons:  # asked again for the training epochs: the same answer
            self.reasons[(case.id, index.images)] = self._reason(case, index)
        return self.reasons[(case.id, index.images)]

    def _reason(self, case: Case, index: DatasetIndex) -> str | None:
        if missing := LOADER_SPECS[case.loader].missing():
            self.unmeasured.append(Unmeasured(case.id, index.images, missing))
            return missing
        contract = case.contract(self.settings.contract)
        if not contract.cache_spec.caches:
            return None
        prediction = predict_cache(index.images, contract)
        if self.limited:
            drain()  # a spent pipeline's cache not yet freed would take room the limit gives this one
        budget = self.limited.budget(available_ram()) if self.limited else available_ram()
        reason = (exceeds_budget(prediction, budget)
                  or exceeds_disk(prediction, free_disk(contract.cache_dir), contract.cache_dir))
        if reason:
            outcome = None
            if self.limited and self.settings.limits.run_exceeding and contract.cache_spec.in_ram:
                outcome = asdict(self.limited.run_exceeding(case.loader, case.cache, case.placement, index.root,
                                                            self.settings.contract, index.images))
            self.unmeasured.append(Unmeasured(case.id, index.images, reason, outcome))
        return reason


def measure(settings: StudySettings) -> Measured:
    """:func:`measure_all`, in a cgroup enforcing ``settings.limits`` when any are given."""
    if not settings.limits.any:
        return measure_all(settings, None)
    limited = LimitedRun(settings.limits, (settings.data_root or default_data_root(), settings.contract.cache_dir))
    try:
        measured = measure_all(settings, limited)
    finally:
        limited.close()
    return replace(measured, limits=asdict(settings.limits))


def measure_all(settings: StudySettings, limited: LimitedRun | None) -> Measured:
    """Every row's epochs at every size this machine can hold, the storage's rates, the training epochs, the
    levels."""
    from pipelines.study.children import fewer_cores, measure_levels, measure_sizes, study_model

    # Opened first: a checkpoint measured under other settings is refused before any dataset is made.
    checkpoint = Checkpoint.open(settings.checkpoint, settings, settings.resume) if settings.checkpoint else None
    sizes = sorted(settings.sizes) + ([settings.held_out] if settings.held_out else [])
    indexes = [prepare_dataset(None, settings.preset, n, settings.seed, settings.data_root) for n in sizes]
    fitted, held = indexes[:len(settings.sizes)], indexes[len(settings.sizes):]

    def rows(images: int) -> tuple[Case, ...]:
        return tuple(c for c in STUDY_CASES if settings.measures_row(c.id, images))

    passes = 2 if settings.measures_training else 1
    levels = len(fewer_cores()) * len(STUDY_CASES) * len(EPOCH_KINDS) if settings.levels else 0
    turns = {n: settings.plan_at(n).rounds if n in settings.sizes else 1 for n in sizes}
    total = passes * sum(turns[n] * len(rows(n)) for n in sizes) * len(EPOCH_KINDS) + levels
    with tqdm(total=total, desc="study", unit="point", file=sys.stderr) as bar:
        def measured(step: str, points: int = 1) -> None:
            bar.set_postfix_str(step)
            bar.update(points)

        if checkpoint and checkpoint.points:
            bar.write(f"resuming from {checkpoint.path}: {len(checkpoint.points)} points measured before",
                      file=sys.stderr)
        holdable = _Holdable(settings, limited)

        def at(chosen: Sequence[DatasetIndex], model: Any = None) -> list[Point]:
            """The fitted sizes round by round, the held-out one whole."""
            return measure_sizes(chosen, settings.contract, settings.plan_at, rows, measured, model, holdable,
                                 checkpoint, fresh=True, settings=settings, interleaved=chosen is fitted)

        def recorded(name: str, measure_now: Callable[[], int]) -> int:
            return checkpoint.recorded(name, measure_now) if checkpoint else measure_now()

        disk = recorded("free_disk_bytes", lambda: free_disk(settings.contract.cache_dir))  # before any cache
        largest = indexes[-1]
        bar.set_postfix_str("the JPEGs' read rate")
        before = measure_file_reads(largest.paths, available_cores(), when="before the epochs")
        points = at(fitted)
        resident = recorded("resident_bytes", lambda: psutil.Process().memory_info().rss)  # TensorFlow loaded
        points += at(held)
        bar.set_postfix_str("storage rates")
        rates = [before] + measure_storage(settings, largest)
        if settings.measures_training:
            model = study_model(settings)
            points += at(fitted, model) + at(held, model)
        if settings.levels:
            bar.set_postfix_str(f"fewer cores, {settings.levels_images:,} images")
            points += measure_levels(settings, progress=measured)
    return Measured(points, available_cores(), unmeasured=holdable.unmeasured, bandwidths=rates,
                    resident_bytes=resident, free_disk_bytes=disk)


def measure_storage(settings: StudySettings, largest: DatasetIndex) -> list[Bandwidth]:
    """The ``largest`` dataset's own JPEGs read again (with the read before the epochs, the range the rate moved
    in), and sequential rates on files of the JPEGs' and each file cache's size at the held-out and full size."""
    cache_dir = settings.contract.cache_dir
    per_image = largest.bytes / largest.images
    wanted = []
    for images in {n for n in (settings.held_out, settings.full_size) if n}:
        wanted.append(per_image * images)
        wanted += [predict_cache(images, case.contract(settings.contract)).total_bytes for case in STUDY_CASES
                   if case.contract(settings.contract).cache_spec.on_disk]
    return [measure_file_reads(largest.paths, available_cores(), when="after the epochs")] + [
        measure_bandwidth(cache_dir, size) for size in sizes_to_measure(wanted, free_disk(cache_dir))]


def model_rate(settings: StudySettings, measured: Measured | None) -> float | None:
    """Images/s of the model alone: the emulated accelerator's; MobileNet's measured on in-memory tensors, or
    for ``--points`` as its study recorded it (a :class:`ValueError` saying what to do where it recorded none)."""
    if not settings.model:
        return None
    if settings.accelerator:
        return settings.accelerator
    classes = PRESETS[settings.preset].classes
    if measured is not None:
        name = model_name(ModelSpec(classes))
        if measured.model == name and measured.model_images_per_sec:
            return measured.model_images_per_sec
        raise ValueError(f"--points {measured.source}: no {name} rate recorded (its study ran with --no-model or "
                         "--accelerator), and --points measures nothing: add --no-model (loader epochs only) or "
                         "--accelerator N, or run the study again without --points")
    from pipelines.harness.rounds import time_rounds
    from pipelines.study.children import study_model
    from pipelines.training import ModelOnly

    alone = ModelOnly(study_model(settings), settings.contract, 4 * settings.contract.batch_size, classes)
    return time_rounds(OffRecordBenchmark(), alone.epoch, RoundPlan(settings.rounds, 0.0)).images_per_sec()
