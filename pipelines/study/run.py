"""The study, step by step: measure (or read ``--points``), fit and bound, the full-size table, the
recommendation, the held-out check (:func:`run_study`); :mod:`pipelines.study.output` prints and writes it."""

from __future__ import annotations

from dataclasses import dataclass, replace

from pipelines.datasets.presets import PRESETS
from pipelines.machine import machine_info
from pipelines.study.held_out import HeldOut, held_out
from pipelines.study.measure import Measured, measure, model_rate
from pipelines.study.recommend import Recommendation, recommend
from pipelines.study.settings import StudySettings
from pipelines.study.table import Predictor, StudyRow
from pipelines.training import ModelSpec, model_name


@dataclass(frozen=True)
class StudyResult:
    """What a study produced: its settings, its measurements (``device`` set), the table at full size, the
    recommendation, the held-out epochs against their intervals (empty without ``--held-out``), and the model's
    own epoch at full size and whether it shares the loader's cores (``None``/``False`` without a model)."""

    settings: StudySettings
    measured: Measured
    rows: list[StudyRow]
    recommendation: Recommendation
    held_out: list[HeldOut]
    model_s: float | None
    shares_cpu: bool


def run_study(settings: StudySettings, measured: Measured | None = None) -> StudyResult:
    """The study; given ``measured`` (``--points``), nothing is measured, the model's rate included."""
    if measured is not None:
        sizes = {p.images for p in measured.points if p.cores is None}
        if settings.held_out and settings.held_out not in sizes:
            raise ValueError(f"--held-out {settings.held_out:,}: --points {measured.source} measured no such size "
                             f"(it holds {', '.join(f'{n:,}' for n in sorted(sizes))}): give one of them, or leave "
                             "--held-out out")
        rate = model_rate(settings, measured)
    else:
        measured = measure(settings)
        rate = model_rate(settings, None)
        if rate and not settings.accelerator:  # MobileNet alone, measured: kept for a later --points
            measured = replace(measured, model=model_name(ModelSpec(PRESETS[settings.preset].classes)),
                               model_images_per_sec=rate)
    measured = replace(measured, device=measured.device or str(machine_info()["device"]))
    name = model_name(ModelSpec(PRESETS[settings.preset].classes, accelerator=settings.accelerator))
    timed = settings.model and any(p.model == name for p in measured.points)
    shares_cpu = bool(rate) and measured.device.startswith("CPU") and not settings.accelerator
    predictor = Predictor(settings, measured, name if timed else None, 1 / rate if rate else None, shares_cpu)
    rows = predictor.rows(settings.full_size)
    model_s = settings.full_size / rate if rate else None
    advice = recommend(rows, settings.ram_budget, model_s, shares_cpu)
    return StudyResult(settings, measured, rows, advice, held_out(predictor) if settings.held_out else [],
                       model_s, shares_cpu)
