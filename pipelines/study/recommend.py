"""From the full-size table, the pipeline to use, with its reason in one sentence.

Each row's training epoch comes from measured training epochs where the study measured them (their own laws,
:func:`~pipelines.study.table.with_training`: the default with an emulated accelerator), else it is composed from
the row's later loader epoch and the model's epoch (``images / model rate``) by
:func:`~pipelines.study.table.combined_s`: on a CPU-only machine the model runs on the loader's cores, so their
sum (measured within ~4% of MobileNet epochs on a 2-core CPU: docs/study.md); on an accelerator the longer of the
two -- which
the scenario grid (``python -m pipelines.study.grid``) found wrong in both directions (prefetching overlaps a step
only partly; a file
cache read back from disk slows a step that its loader epoch says it should not), hence measured by default.

The fastest row that fits is recommended; equal epochs (a composed model-bound tie) go to the faster loader,
which the grids measured faster every time. The grids also showed why no "tie" may hide the winner: a memory
cache 0.7-3% faster than no cache was measured faster, reproducibly, where an earlier rule had called them tied
and picked the cheaper one. A cheaper row (holding less, :data:`HOLDS`) whose epoch is within the prediction's
error -- 10% of the larger loader epoch of the two, the model's part being common to both, or
:data:`EPOCH_NOISE` of the whole epoch -- is named in the reason with the margin, so that 1% is never sold as
worth 17 GB of RAM.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from pipelines.caches.modes import CACHE_SPECS
from pipelines.study.table import StudyRow, training_s
from pipelines.units import format_bytes


#: Run-to-run noise of a whole training epoch (the training cases' rounds spread 0-2% here): differences below
#: this share of the epoch are ties, however the loaders' parts compare.
EPOCH_NOISE = 0.02

#: What a row holds, least first: nothing, then disk (cheap, and not taken from training), then RAM (shared with
#: the model and the page cache); then the fewer bytes.
HOLDS = {"nowhere": 0, "disk": 1, "ram": 2}


@dataclass(frozen=True)
class Recommendation:
    """Attributes: row (the pipeline to use), epoch_s (its predicted later training epoch, or loader epoch
    without a model), reason (one sentence), alternative (a row holding less whose epoch is within the
    prediction's error of it, named in the reason; ``None`` if there is none)."""

    row: StudyRow
    epoch_s: float
    reason: str
    alternative: StudyRow | None = None


def holds(row: StudyRow) -> tuple[int, int]:
    """How much ``row`` holds, as an order (see :data:`HOLDS`)."""
    return HOLDS[CACHE_SPECS[row.case.cache].home], row.cache_bytes


def training_epoch_s(row: StudyRow, images: int, model_images_per_sec: float | None,
                     shares_cpu: bool = False) -> float | None:
    """A later epoch of training with ``row``: from measured training epochs where the row has them, else
    composed (see :func:`~pipelines.study.table.training_s`)."""
    return training_s(row, "later", images / model_images_per_sec if model_images_per_sec else None, shares_cpu)


def recommend(rows: Sequence[StudyRow], images: int, model_images_per_sec: float | None, ram_budget: int,
              tolerance: float = 0.10, cpu_only: bool = False) -> Recommendation:
    """The row to use, and why (see the module docstring)."""
    timed = [(row, training_epoch_s(row, images, model_images_per_sec, cpu_only)) for row in rows if row.fits]
    timed = [(row, t) for row, t in timed if t is not None]
    if not timed:
        raise ValueError("no pipeline fits this RAM budget and disk")
    # Equal epochs (the model sets both) go to the faster loader: prefetching overlaps a step only partly.
    row, epoch_s = min(timed, key=lambda item: (item[1], item[0].later_s, holds(item[0])))

    def within_error(other: StudyRow, other_s: float) -> bool:
        # The model's epoch is common to every row; only the loaders' parts carry the laws' error.
        return other_s - epoch_s <= max(tolerance * max(other.later_s, row.later_s), EPOCH_NOISE * epoch_s)

    cheaper = [(other, t) for other, t in timed if holds(other) < holds(row) and within_error(other, t)]
    alternative = min(cheaper, key=lambda item: (holds(item[0]), item[1], item[0].later_s), default=None)
    reason = _reason(row, rows, images, model_images_per_sec, ram_budget, tolerance, cpu_only)
    if alternative is not None:
        other, other_s = alternative
        reason += (f"; {other.label} is within {100 * (other_s / epoch_s - 1):.0f}% of it (the prediction's "
                   f"error) and holds {_held(other, row)}")
    return Recommendation(row, epoch_s, reason, alternative[0] if alternative else None)


def _held(cheaper: StudyRow, row: StudyRow) -> str:
    """What ``cheaper`` holds, against ``row``: ``nothing``, ``17.7 GB on disk, not in RAM``, ``17.7 GB, not
    70.6 GB``."""
    home = CACHE_SPECS[cheaper.case.cache].home
    if home == "nowhere":
        return "nothing"
    if home != CACHE_SPECS[row.case.cache].home:
        return f"{format_bytes(cheaper.cache_bytes)} on disk, not in RAM"
    return f"{format_bytes(cheaper.cache_bytes)}, not {format_bytes(row.cache_bytes)}"


def _reason(row: StudyRow, rows: Sequence[StudyRow], images: int, model_rate: float | None, ram_budget: int,
            tolerance: float, cpu_only: bool) -> str:
    spec = CACHE_SPECS[row.case.cache]
    uncached = next((r for r in rows if r.case.loader == row.case.loader and not CACHE_SPECS[r.case.cache].caches),
                    None)
    parts = []
    if spec.in_ram:
        parts.append(f"fits in {format_bytes(row.cache_bytes)} of {format_bytes(ram_budget)}")
    elif spec.on_disk:
        parts.append(f"{format_bytes(row.cache_bytes)} on disk")
    if uncached is not None and uncached is not row and uncached.later_s and row.later_s:
        parts.append(f"later epochs {uncached.later_s / row.later_s:.1f}x faster than without a cache")
    model_s = images / model_rate if model_rate else None
    model_bound = bool(model_s and row.later_s is not None and model_s >= row.later_s / (1 + tolerance))
    faster_unfit = [r for r in rows if not r.fits and r.warm.seconds(images) < (row.later_s or float("inf"))]
    if faster_unfit and not model_bound:  # a faster loader would change nothing when the model sets the epoch
        parts.append("faster but too big: " + "; ".join(
            f"{r.label} ({r.note.removeprefix('does not fit: ')})" for r in faster_unfit))
    sentence = row.label + (": " + ", ".join(parts) if parts else "")
    if model_bound:
        sentence += "; beyond that the model is the bottleneck"
        if cpu_only:
            sentence += " (on these cores the loader's work adds to it)"
    elif model_s:
        sentence += f"; the loader is the bottleneck ({row.later_s / model_s:.1f}x the model's epoch)"
    return sentence
