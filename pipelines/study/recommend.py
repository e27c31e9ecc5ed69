"""Step 5: the recommendation -- the fastest row that fits by its later epoch (training's where there is a
model; ties to the faster loader, then the row holding less), its interval, its speed-up over ImageDataGenerator,
and whether the runner-up's interval overlaps it (then what would separate them).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from pipelines.caches.modes import CACHE_SPECS
from pipelines.study.table import StudyRow, format_estimate
from pipelines.units import format_bytes

#: What a row holds, least first: nothing, disk, then RAM (shared with the model and the page cache).
HOLDS = {"nowhere": 0, "disk": 1, "ram": 2}


@dataclass(frozen=True)
class Recommendation:
    """The row to use (``row``), the runner-up when within its uncertainty (``tied``), and the reason."""

    row: StudyRow
    reason: str
    tied: StudyRow | None = None


def holds(row: StudyRow) -> tuple[int, int]:
    return HOLDS[CACHE_SPECS[row.case.cache].home], row.cache_bytes


def recommend(rows: Sequence[StudyRow], ram_budget: int, model_bound_s: float | None = None,
              shares_cpu: bool = False) -> Recommendation:
    """The row to use (see the module docstring); ``model_bound_s``: the model's own later epoch, to say which
    of loader and model sets the pace."""
    training = any(r.train_later for r in rows)
    ranked = sorted((r for r in rows if r.fits and r.epoch(training)),
                    key=lambda r: (r.epoch(training).seconds, r.later.seconds, holds(r)))
    if not ranked:
        raise ValueError("no pipeline fits this RAM budget and disk")
    row, chosen = ranked[0], ranked[0].epoch(training)
    parts = [f"{format_estimate(chosen)} an epoch"]
    baseline = next((r for r in rows if r.case.loader == "idg" and r.epoch(training)), None)
    if baseline is not None and baseline is not row:
        parts.append(f"{baseline.epoch(training).seconds / chosen.seconds:.1f}x ImageDataGenerator")
    spec, nbytes = CACHE_SPECS[row.case.cache], format_bytes(row.cache_bytes)
    if spec.caches:
        parts.append(f"fits in {nbytes} of {format_bytes(ram_budget)}" if spec.in_ram else f"{nbytes} on disk")
    reason = f"{row.label}: {', '.join(parts)}"
    if model_bound_s and training:
        if model_bound_s >= row.later.seconds:
            reason += "; the model sets the pace" + (" (on these cores the loader's work adds to it)"
                                                     if shares_cpu else "")
        else:
            reason += f"; the loader sets the pace ({row.later.seconds / model_bound_s:.1f}x the model's epoch)"
    faster = [r for r in rows if not r.fits and r.later.seconds < row.later.seconds]
    if faster:
        reason += ". Faster but too big: " + ", ".join(
            f"{r.label} ({r.note.removeprefix('does not fit: ')})" for r in faster)
    tied = ranked[1] if len(ranked) > 1 and ranked[1].epoch(training).low <= chosen.high else None
    if tied is not None:
        reason += (f". Within its uncertainty: {tied.label}, {format_estimate(tied.epoch(training))}; more "
                   "--rounds, or a --held-out size nearer the full one, would separate them")
    return Recommendation(row, reason, tied)

