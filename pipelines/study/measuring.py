"""What a study measures: every row's epochs at every size, on fewer cores, the stage costs, and the model's
rate alone -- or, for ``--points``, the rate a previous study recorded, measuring nothing."""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import psutil
from tqdm import tqdm

from pipelines.datasets import prepare_dataset
from pipelines.datasets.presets import PRESETS, default_data_root
from pipelines.caches.bandwidth import Bandwidth, measure_bandwidth, measure_file_reads
from pipelines.harness.cases import Case
from pipelines.epoch.teardown import drain
from pipelines.limits.session import LimitedRun
from pipelines.memory.fill_rate import MemoryFill, measure_memory_fill, sizes_to_fill
from pipelines.memory.predict import available_ram, exceeds_budget, exceeds_disk, free_disk, predict_cache
from pipelines.harness.cases import EPOCH_KINDS
from pipelines.harness.plan import RoundPlan
from pipelines.machine import available_cores
from pipelines.study.checkpoint import Checkpoint
from pipelines.study.in_line import measured_in_line
from pipelines.study.levels import measure_levels
from pipelines.study.pinning import fewer_cores
from pipelines.study.scaling import STUDY_CASES, Point, measure_sizes, uninstalled
from pipelines.study.settings import CASES_BY_ID, StudySettings
from pipelines.study.stages import StageCost
from pipelines.training import ModelSpec, model_name


@dataclass(frozen=True)
class Unmeasured:
    """A row left unmeasured at a size because this machine (or ``--ram-limit``) cannot hold its cache.

    Attributes:
        case: the case id; images: the size; reason: the prediction against what there was.
        outcome: with ``--run-exceeding``, what the cache did when run anyway under the limit
            (:class:`~pipelines.limits.probe.Outcome`'s fields); ``None`` otherwise.
    """

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
    """What a study measured: points (:class:`Point`), the stage costs (:class:`StageCost`, may be empty), the
    cores "all cores" meant on the machine that measured them, and, when it measured the real model alone, its
    name and images/s; ``device``: that machine's device; ``source``: the ``study.json`` read, if any;
    ``unmeasured``: the rows it could not hold at a size (:class:`Unmeasured`); ``limits``: the
    ``--ram-limit`` / ``--read-bandwidth`` it ran under (``LimitSettings``' fields), if any; ``bandwidths``: the
    storage's rates where the caches live, at the sizes the predictions need (:func:`measure_storage`);
    ``resident_bytes``: the study process's resident memory after its epochs at the smallest size (0: not
    recorded), the part of a RAM budget the page cache does not get; ``free_disk_bytes``: the free disk where
    the file caches go, before the study wrote any (0: not recorded), which decides whether a file cache fits --
    recorded, so that a reprint with ``--points`` does not depend on what the disk holds at reprint time;
    ``memory_fills``: what a fresh byte cost a memory cache's fill, at about the sizes of the memory caches
    predicted (:func:`~pipelines.memory.fill_rate.measure_memory_fill`; empty: not measured), which a memory
    cache's first epoch adds to its law; ``measured_twice``: the rows whose fitted sizes lay off their line and
    were measured again (:mod:`pipelines.study.in_line`)."""

    points: list[Point]
    stages: list[StageCost]
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
    memory_fills: list[MemoryFill] = field(default_factory=list)
    measured_twice: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:  # dicts, as study.json saved them
        object.__setattr__(self, "memory_fills", [MemoryFill(**f) if isinstance(f, dict) else f
                                                  for f in self.memory_fills])


def study_model(settings: StudySettings, classes: int):
    """The model of the training columns: the emulated accelerator or MobileNet (random weights)."""
    from pipelines.training import build_model

    return build_model(ModelSpec(classes, accelerator=settings.accelerator), settings.contract)


def model_rate(settings: StudySettings, classes: int) -> float | None:
    """Images/s of the model alone: the emulated accelerator's, or MobileNet's measured on in-memory tensors."""
    if not settings.model:
        return None
    if settings.accelerator:
        return settings.accelerator
    from pipelines.harness.rounds import OffRecordBenchmark, time_rounds
    from pipelines.training import ModelOnly

    images = 4 * settings.contract.batch_size
    alone = ModelOnly(study_model(settings, classes), settings.contract, images, classes)
    timed = time_rounds(OffRecordBenchmark(), alone.epoch, RoundPlan(rounds=settings.rounds, min_round_s=0.0))
    return timed.images_per_sec()


def saved_model_rate(settings: StudySettings, measured: Measured) -> float | None:
    """Images/s of the model alone for ``--points``, measuring nothing: the emulated accelerator's, or the
    MobileNet rate the points' study measured; a :class:`ValueError` saying what to do when it measured none."""
    if not settings.model:
        return None
    if settings.accelerator:
        return settings.accelerator
    name = model_name(ModelSpec(PRESETS[settings.preset].classes))
    if measured.model == name and measured.model_images_per_sec:
        return measured.model_images_per_sec
    raise ValueError(f"--points {measured.source}: no {name} rate recorded (its study ran with --no-model or "
                     "--accelerator, or is older), and --points measures nothing: add --no-model (loader epochs "
                     "only) or --accelerator N, or run the study again without --points")


def measure(settings: StudySettings) -> Measured:
    """:func:`measure_all`, held to ``settings.limits`` (the study in a cgroup of ours) when any are given."""
    if not settings.limits.any:
        return measure_all(settings, None)
    limited = LimitedRun(settings.limits, (settings.data_root or default_data_root(), settings.contract.cache_dir))
    try:
        measured = measure_all(settings, limited)
    finally:
        limited.close()
    return replace(measured, limits=asdict(settings.limits))


class _Holdable:
    """Which rows this machine (or the limit) can hold at a size: a cache predicted not to fit the RAM
    available now or the free disk is not measured -- a 70 GB memory cache on a 24 GB machine would take the
    machine down, not measure it -- and with ``--run-exceeding`` a memory cache is run anyway in a child under
    the limit and what it did is kept."""

    def __init__(self, settings: StudySettings, limited: LimitedRun | None) -> None:
        self.settings, self.limited, self.unmeasured = settings, limited, []
        self.reasons: dict[tuple[str, int], str | None] = {}

    def __call__(self, case: Case, index) -> str | None:
        key = (case.id, index.images)
        if key not in self.reasons:  # asked again for the training epochs: the same answer
            self.reasons[key] = self._reason(case, index)
        return self.reasons[key]

    def _reason(self, case: Case, index) -> str | None:
        if missing := uninstalled(case):
            self.unmeasured.append(Unmeasured(case.id, index.images, missing))
            return missing
        contract = case.contract(self.settings.contract)
        if not contract.cache_spec.caches:
            return None
        prediction = predict_cache(index.images, contract)
        if self.limited:
            drain()  # a spent pipeline's cache not yet freed would take room the limit gives this one
        budget = self.limited.budget(available_ram()) if self.limited else available_ram()
        cache_dir = contract.cache_dir
        reason = exceeds_budget(prediction, budget) or exceeds_disk(prediction, free_disk(cache_dir), cache_dir)
        if reason:
            outcome = None
            if self.limited and self.settings.limits.run_exceeding and contract.cache_spec.in_ram:
                outcome = asdict(self.limited.run_exceeding(case.loader, case.cache, case.placement, index.root,
                                                            self.settings.contract, index.images))
            self.unmeasured.append(Unmeasured(case.id, index.images, reason, outcome))
        return reason


def measure_all(settings: StudySettings, limited: LimitedRun | None) -> Measured:
    """Every study row's cold and warm epochs at every size (and the held-out one) that this machine can hold,
    then on fewer cores and the stage costs (unless ``settings.levels`` is off), with a progress bar."""
    # Opened first: a checkpoint measured under other settings is refused before any dataset is made.
    checkpoint = Checkpoint.open(settings.checkpoint, settings, settings.resume) if settings.checkpoint else None
    sizes = sorted(settings.sizes) + ([settings.held_out] if settings.held_out else [])
    indexes = [prepare_dataset(None, settings.preset, n, settings.seed, settings.data_root) for n in sizes]
    levels = len(fewer_cores()) if settings.levels else 0
    rows = {index.images: tuple(c for c in STUDY_CASES if settings.measures_row(c.id, index.images))
            for index in indexes}
    points_per_pass = sum(len(cases) for cases in rows.values()) * len(EPOCH_KINDS)
    total = points_per_pass * (2 if settings.measures_training else 1) + levels * len(STUDY_CASES) * len(EPOCH_KINDS)
    with tqdm(total=total, desc="study", unit="point", file=sys.stderr) as bar:
        def measured(step: str, points: int = 1) -> None:
            bar.set_postfix_str(step)
            bar.update(points)

        holdable = _Holdable(settings, limited)
        if checkpoint and checkpoint.points:
            bar.write(f"resuming from {checkpoint.path}: {len(checkpoint.points)} points measured before",
                      file=sys.stderr)

        def at_every_size(model=None, sizes=indexes) -> list[Point]:
            return [point for index in sizes
                    for point in measure_sizes([index], settings.contract, settings.plan_at(index.images),
                                               rows[index.images], progress=measured, model=model, skip=holdable,
                                               checkpoint=checkpoint)]

        def again(case_ids: tuple[str, ...], sizes: list) -> list[Point]:
            bar.set_postfix_str(f"off their line, measured again: {', '.join(case_ids)}")
            return [point for index in sizes
                    for point in measure_sizes([index], settings.contract, settings.plan_at(index.images),
                                               tuple(CASES_BY_ID[c] for c in case_ids), skip=holdable,
                                               checkpoint=checkpoint.second_pass() if checkpoint else None)]

        def probe_fills(when: str) -> list[MemoryFill]:
            bar.set_postfix_str("memory caches' fills")
            drain()  # no spent pipeline's memory in the probe's way
            return measure_fills(settings, limited.budget(available_ram()) if limited else available_ram(), when)

        def recorded(name: str, measure: Callable[[], int]) -> int:
            return checkpoint.recorded(name, measure) if checkpoint else measure()

        disk = recorded("free_disk_bytes", lambda: free_disk(settings.contract.cache_dir))  # before any cache
        points = at_every_size(sizes=indexes[:1])
        # TensorFlow and its pipelines run, no large cache yet (a resumed run: as the stopped one recorded it,
        # after epochs it ran; this run may have reused them instead)
        resident = recorded("resident_bytes", lambda: psutil.Process().memory_info().rss)
        largest = max(indexes, key=lambda i: i.images)
        bar.set_postfix_str("the JPEGs' read rate")
        before = measure_file_reads(largest.paths, available_cores(), when="before the epochs")
        fills = probe_fills("before the epochs") if settings.held_out else []  # a range for the held-out error
        fitted = indexes[:len(settings.sizes)]
        points += at_every_size(sizes=fitted[1:])
        points, twice = measured_in_line(points, settings.sizes, lambda ids: again(ids, fitted))
        points += at_every_size(sizes=indexes[len(fitted):])
        bar.set_postfix_str("storage rates")
        per_image = sum(i.bytes for i in indexes) / sum(i.images for i in indexes)
        rates = [before] + measure_storage(settings, per_image, largest)
        fills += probe_fills("after the epochs" if fills else "")
        if settings.measures_training:
            model = study_model(settings, PRESETS[settings.preset].classes)
            points += at_every_size(model)
        if not settings.levels:
            return Measured(points, [], available_cores(), unmeasured=holdable.unmeasured, bandwidths=rates,
                            resident_bytes=resident, free_disk_bytes=disk, memory_fills=fills,
                            measured_twice=twice)
        bar.set_postfix_str(f"fewer cores, {settings.levels_images:,} images")
        fewer = measure_levels(settings.preset, settings.levels_images, settings.seed, settings.data_root,
                               settings.contract, settings.rounds, progress=measured,
                               min_round_s=settings.min_round_s)
        return Measured(points + list(fewer.points), list(fewer.stages), available_cores(),
                        unmeasured=holdable.unmeasured, bandwidths=rates, resident_bytes=resident,
                        free_disk_bytes=disk, memory_fills=fills, measured_twice=twice)


def measure_storage(settings: StudySettings, per_image_bytes: float, largest) -> list[Bandwidth]:
    """The storage's rates after the epochs: reading the ``largest`` dataset's own JPEGs as a first epoch does
    (:func:`~pipelines.caches.bandwidth.measure_file_reads`; :func:`measure_all` reads them before the epochs
    too, the two the range the volume's rate moved in), and sequential rates where the caches live, on
    files of the sizes the predictions move -- the JPEGs and each file cache at the held-out and the full size
    (sizes within a quarter of each other measured once; one that does not fit the free disk is a row that does
    not either)."""
    from pipelines.study.bounds import sizes_to_measure

    cache_dir = settings.contract.cache_dir
    wanted = []
    for images in {n for n in (settings.held_out, settings.full_size) if n}:
        wanted.append(per_image_bytes * images)
        wanted += [predict_cache(images, case.contract(settings.contract)).total_bytes for case in STUDY_CASES
                   if case.contract(settings.contract).cache_spec.on_disk]
    return [measure_file_reads(largest.paths, available_cores(), when="after the epochs")] + [
        measure_bandwidth(cache_dir, size) for size in sizes_to_measure(wanted, free_disk(cache_dir))]


#: The most of the RAM left that a fill probe takes: it must leave the page cache and the study's process room.
FILL_SHARE = 0.5


def measure_fills(settings: StudySettings, room: int, when: str = "") -> list[MemoryFill]:
    """What a fresh byte costs a memory cache's fill, probed ``when``: at the sizes and in the dtypes of the
    memory caches predicted at the held-out size (else the full size), each at most :data:`FILL_SHARE` of the
    ``room`` the RAM (or ``--ram-limit``) leaves now, as the storage's rates are measured at the bytes an epoch
    moves."""
    images = settings.held_out or settings.full_size
    caches = [predict_cache(images, case.contract(settings.contract)) for case in STUDY_CASES
              if case.contract(settings.contract).cache_spec.in_ram]
    return [measure_memory_fill(size, placement, settings.contract.image_size, when)
            for size, placement in sizes_to_fill([(c.total_bytes, c.placement) for c in caches],
                                                 FILL_SHARE * room)]
