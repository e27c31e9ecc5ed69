"""A scaling curve's points and the answer read from them: how many workers feed an accelerator.

A point is one worker count's images/s, its rounds' spread, and what each resource used over them
(:class:`Usage`); :mod:`~pipelines.dataservice.scale` measures them. Nothing here measures: the answer is
arithmetic on the points.

The answer to ``--accelerator N``: where a measured count reaches ``N``, between the measured points; past
them, along the images/s an added worker brings (the least-squares slope through the points, so a curve that
bends shows in it), with an interval from the lowest to the highest slope between any two points and their
spreads. It is checked by predicting the measured count nearest the answer from the other points alone and
setting that prediction, with its interval, beside what was measured there (``holds`` or ``MISSED``). Where
the trainer (not the workers) capped the top of the curve below ``N``, or the curve stops rising, no count
reaches it: ``None``, with the reason.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

#: A resource this close to its limit over the rounds is the one the point is bound by.
SATURATED_AT = 0.8


@dataclass
class Usage:
    """What each resource used over a point's rounds, as a share of its limit (``None``: it has none)."""

    workers: float | None
    dispatcher: float
    link: float | None
    trainer: float
    machine: float

    def saturated(self) -> str:
        """The resource nearest its limit, or ``none near its limit``."""
        shares = {name: value for name, value in asdict(self).items() if value is not None}
        name = max(shares, key=shares.get)
        return name if shares[name] >= SATURATED_AT else "none near its limit"


@dataclass
class Point:
    """One worker count's rate.

    Attributes:
        workers: worker hosts.
        images_per_sec: median over the rounds.
        spread: half the rounds' range over their median.
        usage: what each resource used, as a share of its limit.
    """

    workers: int
    images_per_sec: float
    spread: float
    usage: Usage

    @property
    def per_worker(self) -> float:
        return self.images_per_sec / self.workers

    @property
    def saturated(self) -> str:
        return self.usage.saturated()

    def record(self) -> dict[str, Any]:
        return {"workers": self.workers, "images_per_sec": round(self.images_per_sec, 1),
                "spread": round(self.spread, 4), "saturated": self.saturated,
                "usage": {k: None if v is None else round(v, 3) for k, v in asdict(self.usage).items()}}


def workers_needed(points: Sequence[Point], target: float) -> dict[str, Any]:
    """Worker hosts needed to feed ``target`` images/s (see the module docstring), with its interval and check."""
    top = max(points, key=lambda p: p.images_per_sec)
    if top.saturated == "trainer" and target > top.images_per_sec * (1 + top.spread):
        return {"workers": None, "reason": f"the trainer's own process is the limit at {top.images_per_sec:.0f} "
                f"img/s ({top.workers} workers): more workers cannot feed {target:g} img/s"}
    low_slope, slope, high_slope = _slopes(points)
    estimate = _reach(points, target, slope)
    if estimate is None:
        return {"workers": None, "reason": f"the curve stops growing at {top.images_per_sec:.0f} img/s "
                f"({top.workers} workers, bound by {top.saturated})"}
    nearest = min(points, key=lambda p: (abs(p.workers - estimate), -p.workers))
    others = [p for p in points if p is not nearest]
    pessimistic = _reach(points, target, low_slope)
    needed: dict[str, Any] = {
        "workers": math.ceil(estimate), "low": math.ceil(_reach(points, target, high_slope) or estimate),
        "high": math.ceil(pessimistic) if pessimistic is not None else None,
        "images_per_sec_per_added_worker": round(slope, 1),
        "extrapolated": estimate > max(p.workers for p in points), "check": None}
    if others:
        low, mid, high = (_rate_at(others, nearest.workers, s) for s in _slopes(others))
        needed["check"] = {"workers": nearest.workers, "predicted_images_per_sec": round(mid, 1),
                           "low": round(low, 1), "high": round(high, 1),
                           "measured_images_per_sec": round(nearest.images_per_sec, 1),
                           "from_points": [p.workers for p in others],
                           "holds": low <= nearest.images_per_sec <= high}
    return needed


def _slopes(points: Sequence[Point]) -> tuple[float, float, float]:
    """Images/s an added worker brings: the least-squares slope through the points, and the lowest and highest
    slope between any two of them with their spreads (one point: a line through the origin)."""
    if len(points) == 1:
        p = points[0]
        return p.per_worker * (1 - p.spread), p.per_worker, p.per_worker * (1 + p.spread)
    ws, rs = [p.workers for p in points], [p.images_per_sec for p in points]
    mean_w, mean_r = statistics.fmean(ws), statistics.fmean(rs)
    slope = sum((w - mean_w) * (r - mean_r) for w, r in zip(ws, rs)) / sum((w - mean_w) ** 2 for w in ws)
    pairs = [(a, b) for a in points for b in points if a.workers < b.workers]
    low = min((b.images_per_sec * (1 - b.spread) - a.images_per_sec * (1 + a.spread)) / (b.workers - a.workers)
              for a, b in pairs)
    high = max((b.images_per_sec * (1 + b.spread) - a.images_per_sec * (1 - a.spread)) / (b.workers - a.workers)
               for a, b in pairs)
    return min(low, slope), slope, max(high, slope)


def _rate_at(points: Sequence[Point], workers: int, slope: float) -> float:
    """The rate at ``workers`` on a line of ``slope`` through the nearest of ``points``."""
    anchor = min(points, key=lambda p: abs(p.workers - workers))
    return anchor.images_per_sec + (workers - anchor.workers) * slope


def _reach(points: Sequence[Point], target: float, slope: float) -> float | None:
    """Workers at which the curve reaches ``target``: between measured points where it does there (from the
    origin below the first), else on a line of ``slope`` past the last; ``None`` where that line does not rise."""
    previous = (0, 0.0)
    for p in sorted(points, key=lambda p: p.workers):
        if p.images_per_sec >= target:
            w0, r0 = previous
            return w0 + (target - r0) * (p.workers - w0) / (p.images_per_sec - r0)
        previous = (p.workers, p.images_per_sec)
    if slope <= 0:
        return None
    return previous[0] + (target - previous[1]) / slope


def needed_line(needed: dict[str, Any], target: float) -> str:
    """The answer in one line (its check on a second): the count, its interval."""
    if needed.get("workers") is None:
        return f"workers needed for {target:,.0f} img/s: none reaches it -- {needed.get('reason', '')}"
    high = needed["high"] if needed["high"] is not None else "unbounded: the slowest slope does not rise"
    line = (f"workers needed for {target:,.0f} img/s: {needed['workers']} ({needed['low']}-{high}), each added "
            f"worker bringing {needed['images_per_sec_per_added_worker']:,.0f} img/s"
            + (" (extrapolated past the measured counts)" if needed["extrapolated"] else ""))
    check = needed.get("check")
    if check:
        line += (f"\ncheck: {check['workers']} workers predicted from {check['from_points']}: "
                 f"{check['predicted_images_per_sec']:,.0f} img/s ({check['low']:,.0f}-{check['high']:,.0f}), "
                 f"measured {check['measured_images_per_sec']:,.0f}: {'holds' if check['holds'] else 'MISSED'}")
    return line
