"""Step 2: fit each row's epochs -- a straight line in the images, with a prediction interval.

Every pipeline does the same work an image (read, decode, resize; or read a cached element) plus a fixed cost an
epoch (the iterator, the prefetch buffers, the last batch), so ``seconds = fixed + per image x images`` is the law
(Plumber's and Cachew's models are of the same kind). It is fitted by non-negative least squares through the
median round of each measured size: one slow round (a volume waking up) must not tilt it.

Its interval is the textbook prediction interval of a line, in relative terms (an epoch's noise grows with the
epoch): every round's distance from the line over the line says how far one epoch strays, and sizes off a line
leave larger distances; how far the line may be off grows with the distance from the fitted sizes; the two add,
and :data:`CONFIDENCE` of Student's t (``rounds - 2`` degrees of freedom) of them is the interval.
"""
from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np
from scipy import stats
from scipy.optimize import nnls


@dataclass(frozen=True)
class Estimate:
    """A predicted epoch: ``seconds``, and the interval ``low``-``high`` that should hold the measured one."""

    seconds: float
    low: float
    high: float

    @property
    def half_width(self) -> float:
        """Half the interval over the prediction (``0.14``: ±14%)."""
        return (self.high - self.low) / 2 / self.seconds if self.seconds > 0 else 0.0

    def holds(self, measured_s: float) -> bool:
        return self.low <= measured_s <= self.high

    def plus(self, other: Estimate) -> Estimate:
        """This epoch with ``other`` work added, end to end (a model's epoch on the same cores)."""
        return Estimate(self.seconds + other.seconds, self.low + other.low, self.high + other.high)

    def overlapping(self, other: Estimate) -> Estimate:
        """Two kinds of work that overlap fully (the slower of the two) or not at all (their sum): the slower of
        the two, the interval reaching up to their sum."""
        return replace(self.at_least(other), high=self.high + other.high)

    def at_least(self, other: Estimate) -> Estimate:
        """The slower of two kinds of work that overlap (CPU and storage): each end the larger of the two."""
        return Estimate(max(self.seconds, other.seconds), max(self.low, other.low), max(self.high, other.high))


@dataclass(frozen=True)
class Line:
    """``seconds = fixed_s + per_image_s x images``, fitted by least squares with neither part below zero (a
    negative start-up or cost an image is noise, never a law)."""

    fixed_s: float
    per_image_s: float

    @classmethod
    def through(cls, sizes: Sequence[int], seconds: Sequence[float]) -> Line:
        x = np.asarray(sizes, dtype=float)
        (fixed, per_image), _ = nnls(np.column_stack([np.ones_like(x), x]), np.asarray(seconds, dtype=float))
        return cls(float(fixed), float(per_image))

    def seconds(self, images: int) -> float:
        return self.fixed_s + self.per_image_s * images


#: The share of epochs the interval is meant to hold.
CONFIDENCE = 0.95


@dataclass(frozen=True)
class Law:
    """A row's epochs of one kind: the line through each size's median round (``median``); ``spread``, the
    rounds' relative distance from it (a standard deviation, ``dof`` degrees of freedom); ``leverage``, the
    inverse of the relative fit's information matrix, which says how far the line may be off at a size."""

    median: Line
    spread: float
    leverage: tuple[tuple[float, float], tuple[float, float]]
    dof: int
    sizes: tuple[int, ...]

    def estimate(self, images: int, epochs: int = 1) -> Estimate:
        """The epoch at ``images`` with the interval that should hold the median of ``epochs`` epochs measured
        there, :data:`CONFIDENCE` of the time (without a degree of freedom -- one round at two sizes -- none:
        0 to infinity)."""
        middle = self.median.seconds(images)
        if self.dof < 1 or middle <= 0:
            return Estimate(middle, 0.0, math.inf)
        x = np.array([1.0, float(images)])
        line = float(x @ np.array(self.leverage) @ x) / middle**2
        one = 1.0 if epochs == 1 else math.pi / (2 * epochs)  # a median of several epochs strays less
        half = float(stats.t.ppf(0.5 + CONFIDENCE / 2, self.dof)) * self.spread * math.sqrt(line + one)
        return Estimate(middle, middle * max(1 - half, 0.0), middle * (1 + half))


def fit_law(points: Sequence[tuple[int, Sequence[float]]]) -> Law:
    """The law of ``(images, rounds' seconds)`` points, at least two distinct sizes (a size given twice: its
    rounds pooled)."""
    rounds: dict[int, list[float]] = {}
    for images, seconds in points:
        rounds.setdefault(images, []).extend(seconds)
    sizes = sorted(rounds)
    if len(sizes) < 2:
        raise ValueError(f"a law needs epochs at two sizes at least, got sizes {sizes}")
    median = Line.through(sizes, [statistics.median(rounds[n]) for n in sizes])
    x = np.array([n for n in sizes for _ in rounds[n]], dtype=float)
    y = np.array([s for n in sizes for s in rounds[n]])
    expected = np.maximum(median.fixed_s + median.per_image_s * x, 1e-12)
    dof = len(y) - 2
    spread = math.sqrt(float(np.sum((y / expected - 1) ** 2)) / dof) if dof > 0 else math.inf
    design = np.column_stack([np.ones_like(x), x]) / expected[:, None]  # each round weighed by its epoch
    leverage = np.linalg.pinv(design.T @ design)
    return Law(median, spread, tuple(map(tuple, leverage.tolist())), dof, tuple(sizes))
