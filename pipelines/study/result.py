"""What a study run produced (:class:`StudyResult`), apart from the run that makes it
(:mod:`pipelines.study.run`), so that what prints and writes it (:mod:`pipelines.study.storage_lines`,
:mod:`pipelines.study.output`) reads it without importing that run back."""

from __future__ import annotations

from dataclasses import dataclass, field

from pipelines.study.bands import Bands
from pipelines.study.check import Check
from pipelines.study.measuring import Measured
from pipelines.study.settings import StudySettings
from pipelines.study.table import StudyRow


@dataclass(frozen=True)
class StudyResult:
    """What a study run produced.

    Attributes:
        settings: what it ran with.
        measured: its measurements, ``device`` set (the machine that measured them).
        rows: the table at full size.
        errors: each law's held-out error by (case id, epoch kind); empty without ``held_out``.
        head: the lines above the table (shape, budget, model, where it was measured, cache bytes check...).
        recommendation: the recommendation's reason (a sentence).
        model_s: the model's epoch alone at full size; ``None`` without a model.
        shares_cpu: the model runs on the loader's CPU cores (their work adds up).
        levels: the parallelism levels' and stage costs' lines (empty when not measured).
        check: the recommendation at the held-out size against the epochs measured there, if it could be made.
        checked_epochs: which epochs the check compared (``training epochs`` or ``loader epochs``).
        predicted_reads: ``(bytes, bytes a second)`` each (case id, epoch kind) measured at the held-out size was
            predicted to read from storage an epoch, to set beside the disks' counters (:func:`~pipelines.study.storage_lines.storage_lines`).
        bands: the lowest and highest held-out error of each (case id, epoch kind) with one thing that moves it
            taken at a time (:mod:`pipelines.study.bands`), by what: ``each JPEG read rate probed`` (before and
            after the epochs), ``each fill's cost probed``, ``each round`` (the held-out size's own spread),
            ``each round's own kernel time``.
    """

    settings: StudySettings
    measured: Measured
    rows: list[StudyRow]
    errors: dict[tuple[str, str], float]
    head: list[str]
    recommendation: str
    model_s: float | None
    shares_cpu: bool
    levels: list[str]
    check: Check | None
    checked_epochs: str
    predicted_reads: dict[tuple[str, str], tuple[float, float]] = field(default_factory=dict)
    bands: dict[str, Bands] = field(default_factory=dict)
