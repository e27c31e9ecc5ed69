"""From the full-size table, the pipeline to use, with its reason in one sentence.

A training epoch cannot be shorter than the loader's epoch nor than the model's (prefetching overlaps the two at
best), so each row's training epoch is predicted as the longer of its later-epoch time and ``images / model
rate`` -- an emulated accelerator's rate, or the real model's measured alone. On a CPU-only machine the loader
also takes the model's cores, so that is a lower bound there, and the sentence says so.

Among the rows that fit, the fastest wins; rows within ``tolerance`` of it (the measurement's own error) count as
tied, and of tied rows the one that holds the least (:data:`HOLDS`: no cache, then a disk cache, then a RAM one)
is recommended: a cache that buys nothing measurable is RAM or disk spent for nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from pipelines.config import CACHE_SPECS
from pipelines.study.table import StudyRow
from pipelines.units import format_bytes


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


def training_epoch_s(row: StudyRow, images: int, model_images_per_sec: float | None) -> float | None:
    """A later epoch of training with ``row``: the loader's epoch or the model's, whichever is longer."""
    if row.later_s is None:
        return None
    return max(row.later_s, images / model_images_per_sec) if model_images_per_sec else row.later_s


def recommend(rows: Sequence[StudyRow], images: int, model_images_per_sec: float | None, ram_budget: int,
              tolerance: float = 0.10, cpu_only: bool = False) -> Recommendation:
    """The row to use, and why (see the module docstring)."""
    timed = [(row, training_epoch_s(row, images, model_images_per_sec)) for row in rows if row.fits]
    timed = [(row, t) for row, t in timed if t is not None]
    if not timed:
        raise ValueError("no pipeline fits this RAM budget and disk")
    best_s = min(t for _, t in timed)
    tied = [(row, t) for row, t in timed if t <= best_s * (1 + tolerance)]
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
            sentence += " (it shares the CPU with the loader: a lower bound)"
    elif model_s:
        sentence += f"; the loader is the bottleneck ({row.later_s / model_s:.1f}x the model's epoch)"
    return sentence
