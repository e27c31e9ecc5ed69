"""What a study measures: every row's epochs at every size, on fewer cores, the stage costs, and the model's
rate alone -- or, for ``--points``, the rate a previous study recorded, measuring nothing."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

from tqdm import tqdm

from pipelines.datasets import prepare_dataset
from pipelines.datasets.presets import PRESETS
from pipelines.harness.cases import EPOCH_KINDS
from pipelines.harness.plan import RoundPlan
from pipelines.machine import available_cores
from pipelines.study.levels import measure_levels
from pipelines.study.pinning import fewer_cores
from pipelines.study.scaling import STUDY_CASES, Point, measure_sizes
from pipelines.study.settings import StudySettings
from pipelines.study.stages import StageCost
from pipelines.training import ModelSpec, model_name


@dataclass(frozen=True)
class Measured:
    """What a study measured: points (:class:`Point`), the stage costs (:class:`StageCost`, may be empty), the
    cores "all cores" meant on the machine that measured them, and, when it measured the real model alone, its
    name and images/s; ``device``: that machine's device; ``source``: the ``study.json`` read, if any."""

    points: list[Point]
    stages: list[StageCost]
    cores: int
    model: str | None = None
    model_images_per_sec: float | None = None
    device: str | None = None
    source: Path | None = None


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
    """Every study row's cold and warm epochs at every size (and the held-out one), then on fewer cores and the
    stage costs (unless ``settings.levels`` is off), with a progress bar."""
    sizes = sorted(settings.sizes) + ([settings.held_out] if settings.held_out else [])
    indexes = [prepare_dataset(None, settings.preset, n, settings.seed, settings.data_root) for n in sizes]
    levels = len(fewer_cores()) if settings.levels else 0
    per_size = len(STUDY_CASES) * len(EPOCH_KINDS)
    passes = len(indexes) * (2 if settings.measures_training else 1) + levels
    with tqdm(total=passes * per_size, desc="study", unit="point", file=sys.stderr) as bar:
        def measured(step: str, points: int = 1) -> None:
            bar.set_postfix_str(step)
            bar.update(points)

        points = measure_sizes(indexes, settings.contract, settings.rounds, progress=measured)
        if settings.measures_training:
            model = study_model(settings, PRESETS[settings.preset].classes)
            points += measure_sizes(indexes, settings.contract, settings.rounds, progress=measured, model=model)
        if not settings.levels:
            return Measured(points, [], available_cores())
        bar.set_postfix_str(f"fewer cores, {settings.levels_images:,} images")
        fewer = measure_levels(settings.preset, settings.levels_images, settings.seed, settings.data_root,
                               settings.contract, settings.rounds, progress=measured)
        return Measured(points + list(fewer.points), list(fewer.stages), available_cores())
