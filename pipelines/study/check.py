"""The recommendation checked where it can be: at the held-out size, against what was measured there.

At ``--held-out N`` the study has measured every row's epochs (training epochs too, when they are measured),
and its laws were fitted without them. So the study can recommend for ``N`` images from the laws alone, exactly
as it does at full size, and then look up which row was fastest in fact: one scenario of the grid
(:mod:`pipelines.study.grid`: one command a shape and model, ``--points`` re-checking it for other RAM budgets
without measuring).

What counts: the later epochs of the rows that fit the budget at ``N`` by the same rules as the table (without a
cache, the first-epoch measurement where the JPEGs exceed the budget: every epoch then reads storage). A match
is the recommended row being the fastest measured, or slower than it by no more than the two rows' rounds'
spreads together (the measurements cannot order them).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # types only: importing them imports TensorFlow, which reading a check needs not
    from pipelines.study.scaling import Point
    from pipelines.study.table import StudyRow


@dataclass(frozen=True)
class Check:
    """The recommendation at the held-out size against the measured epochs there.

    Attributes:
        images: the held-out size.
        recommended: the recommended row's case id, with its measured epoch (median s) and spread.
        fastest: the fastest measured row's case id (among those that fit), its epoch and spread.
        verdict: ``match``, ``within noise`` or ``miss``.
        epochs: every fitting row's measured epoch (case id -> median s), for the record.
    """

    images: int
    recommended: str
    recommended_s: float
    recommended_spread: float
    fastest: str
    fastest_s: float
    fastest_spread: float
    verdict: str
    epochs: dict[str, float]

    def line(self, what: str) -> str:
        return (f"check at {self.images:,} images (held out, {what}): recommended {self.recommended} "
                f"{self.recommended_s:.2f} s ±{100 * self.recommended_spread:.0f}%, fastest measured "
                f"{self.fastest} {self.fastest_s:.2f} s ±{100 * self.fastest_spread:.0f}%: {self.verdict}")


def check_recommendation(rows: Sequence[StudyRow], recommended: StudyRow, points: Sequence[Point], images: int,
                         model: str | None) -> Check | None:
    """``recommended`` (chosen from ``rows``, the table predicted for ``images``) against the epochs measured at
    ``images`` (``model``'s training epochs, or the loaders' alone for ``None``); ``None`` if a fitting row was
    not measured there."""
    measured = {(p.case, p.epoch): p for p in points
                if p.images == images and p.model == model and p.cores is None}
    fitting = {}
    for row in rows:
        if not row.fits:
            continue
        point = measured.get((row.case.id, row.later_kind))
        if point is None:
            return None
        fitting[row.case.id] = point
    fastest = min(fitting.values(), key=lambda p: p.median_s)
    chosen = fitting.get(recommended.case.id)
    if chosen is None:
        return None
    if chosen is fastest:
        verdict = "match"
    elif chosen.median_s <= fastest.median_s * (1 + chosen.spread + fastest.spread):
        verdict = "within noise"
    else:
        verdict = "miss"
    return Check(images, chosen.case, chosen.median_s, chosen.spread, fastest.case, fastest.median_s,
                 fastest.spread, verdict, {case: p.median_s for case, p in fitting.items()})

