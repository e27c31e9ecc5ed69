"""Step 6: the held-out check -- every epoch measured at ``--held-out`` (left out of every fit) against its
predicted interval, and the coverage: how many fell inside, and how wide the intervals were. Epochs under
:data:`COUNTED_S` are listed, not counted: milliseconds of noise on a tenth of a second say nothing of minutes.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass

from pipelines.study.fit import Estimate
from pipelines.study.table import Predictor
from pipelines.study.settings import CASES_BY_ID

#: Held-out epochs shorter than this are not counted in the coverage.
COUNTED_S = 1.0


@dataclass(frozen=True)
class HeldOut:
    """One held-out epoch (``model``: the model trained, ``None``: the loader alone) against its prediction."""

    case: str
    epoch: str
    predicted_s: float
    low_s: float
    high_s: float
    measured_s: float
    model: str | None = None

    @property
    def inside(self) -> bool:
        return Estimate(self.predicted_s, self.low_s, self.high_s).holds(self.measured_s)

    def line(self) -> str:
        where = "inside" if self.inside else ("below" if self.measured_s < self.low_s else "above")
        kind = {"cold": "first", "warm": "later"}[self.epoch] + (" training" if self.model else "")
        return (f"  {self.case} {kind}: measured {self.measured_s:.2f} s, predicted {self.predicted_s:.2f} s "
                f"({self.low_s:.2f}-{self.high_s:.2f}): {where}")


@dataclass(frozen=True)
class Coverage:
    """``within`` of the ``of`` held-out epochs of :data:`COUNTED_S` or more fell inside their interval; the
    median of their half-widths over the prediction."""

    within: int
    of: int
    median_half_width: float

    def line(self, images: int) -> str:
        return (f"coverage at {images:,} images held out: {self.within} of {self.of} epochs of {COUNTED_S:g} s or "
                f"more inside their interval; median half-width {100 * self.median_half_width:.0f}%")


def held_out(predictor: Predictor) -> list[HeldOut]:
    """Every epoch measured at the held-out size (on all cores; the loaders' and, where measured, training's)
    with the table's prediction for it there."""
    images = predictor.settings.held_out
    found = []
    for p in predictor.measured.points:
        if p.images != images or p.cores is not None:
            continue
        case = CASES_BY_ID[p.case]
        estimate = predictor.epoch(case, p.epoch, images, p.model, epochs=len(p.seconds))
        if estimate is not None:
            found.append(HeldOut(p.case, p.epoch, round(estimate.seconds, 4), round(estimate.low, 4),
                                 round(estimate.high, 4), round(p.median_s, 4), p.model))
    return found


def coverage(epochs: Sequence[HeldOut]) -> Coverage | None:
    """The coverage of ``epochs`` (those of :data:`COUNTED_S` or more with an interval); ``None`` where there
    are none."""
    counted = [e for e in epochs if e.measured_s >= COUNTED_S and math.isfinite(e.high_s)]
    if not counted:
        return None
    widths = [Estimate(e.predicted_s, e.low_s, e.high_s).half_width for e in counted if e.predicted_s > 0]
    return Coverage(sum(e.inside for e in counted), len(counted), round(statistics.median(widths), 4))
