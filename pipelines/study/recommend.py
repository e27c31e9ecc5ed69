"""From the full-size table, the pipeline to use, with its reason in one sentence.

Each row's training epoch is predicted from its later-epoch time and the model's epoch (``images / model rate``:
an emulated accelerator's rate, or the real model's measured alone) by :func:`combined_s`: on an accelerator the
two overlap at best, so the longer of them; on a CPU-only machine the model runs on the loader's cores, so their
sum. The sum was adopted after a scenario grid (README) measured MobileNet epochs on this CPU near model + loader
(12.30 s measured against 10.3 + 1.75 s) where the longer of the two had tied every cached row.

Among the rows that fit, the fastest wins. Rows whose predicted epochs differ from it by less than ``tolerance``
(10%, above the laws' held-out errors of up to 6% outside file caches) of the larger of the two loader epochs count
as tied -- a fraction of the loader's part only, since the model's epoch is common to both and a 10% share of
the whole epoch hid real differences (a memory cache 9% faster than none in a MobileNet epoch, README) -- as do
rows within :data:`EPOCH_NOISE` of the whole epoch, which no run can tell apart; and of
tied rows the one that holds the least (:data:`HOLDS`: no cache, then a disk cache, then a RAM one) is
recommended: a cache that buys nothing measurable is RAM or disk spent for nothing.

The sum and both tie terms were settled on the README's scenario grid, so its 7 of 10 is no independent check.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from pipelines.config import CACHE_SPECS
from pipelines.study.table import StudyRow, combined_s
from pipelines.units import format_bytes


#: Run-to-run noise of a whole training epoch (the training cases' rounds spread 0-2% here): differences below
#: this share of the epoch are ties, however the loaders' parts compare.
EPOCH_NOISE = 0.02

#: Of tied rows, the one holding least wins: nothing, then disk (cheap, and not taken from training), then RAM
#: (shared with the model and the page cache); then the fewer bytes; then the faster loader (less CPU per image).
HOLDS = {"nowhere": 0, "disk": 1, "ram": 2}


@dataclass(frozen=True)
class Recommendation:
    """Attributes: row (the pipeline to use), epoch_s (its predicted later training epoch, or loader epoch
    without a model), reason (one sentence)."""

    row: StudyRow
    epoch_s: float
    reason: str


def training_epoch_s(row: StudyRow, images: int, model_images_per_sec: float | None,
                     shares_cpu: bool = False) -> float | None:
    """A later epoch of training with ``row`` (see :func:`combined_s`)."""
    return combined_s(row.later_s, images / model_images_per_sec if model_images_per_sec else None, shares_cpu)


def recommend(rows: Sequence[StudyRow], images: int, model_images_per_sec: float | None, ram_budget: int,
              tolerance: float = 0.10, cpu_only: bool = False) -> Recommendation:
    """The row to use, and why (see the module docstring)."""
    timed = [(row, training_epoch_s(row, images, model_images_per_sec, cpu_only)) for row in rows if row.fits]
    timed = [(row, t) for row, t in timed if t is not None]
    if not timed:
        raise ValueError("no pipeline fits this RAM budget and disk")
    best, best_s = min(timed, key=lambda item: item[1])
    # The model's epoch is common to every row; only the loaders' parts carry the laws' error.
    tied = [(row, t) for row, t in timed
            if t - best_s <= max(tolerance * max(row.later_s, best.later_s), EPOCH_NOISE * best_s)]
    row, epoch_s = min(tied, key=lambda item: (HOLDS[CACHE_SPECS[item[0].case.cache].home], item[0].cache_bytes,
                                                item[0].later_s))
    reason = _reason(row, rows, images, model_images_per_sec, ram_budget, tolerance, cpu_only)
    return Recommendation(row, epoch_s, reason)


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
