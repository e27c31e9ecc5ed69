"""How an epoch's time grows with the images: a straight line fitted to measured sizes, checked on a held-out one.

Every pipeline here does the same work per image (read, decode, resize; or read a cached element) plus a fixed
cost per epoch (building the iterator, tracing, filling the prefetch buffers, the tail of the last batch), so
seconds = ``fixed + per_image x images`` is the law to fit -- Plumber's and Cachew's models are of the same
kind. It is not assumed to hold: :func:`held_out_error` predicts a size that was measured but not used in the
fit, and the study prints that error beside every prediction. Where the law breaks at full scale (the JPEGs no
longer fit in the page cache, a memory cache no longer fits in RAM), :mod:`pipelines.study.table` switches
to the law of the epoch kind that describes it rather than bending the line.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.optimize import nnls


@dataclass(frozen=True)
class Law:
    """``seconds = fixed_s + per_image_s x images``, fitted by least squares.

    Attributes:
        fixed_s: seconds an epoch costs whatever its size (at least 0).
        per_image_s: seconds each image adds (at least 0).
        sizes: the image counts it was fitted on.
    """

    fixed_s: float
    per_image_s: float
    sizes: tuple[int, ...]

    def seconds(self, images: int) -> float:
        return self.fixed_s + self.per_image_s * images

    @property
    def images_per_sec(self) -> float:
        """The rate a large epoch tends to (the fixed cost amortised away)."""
        return 1.0 / self.per_image_s if self.per_image_s > 0 else float("inf")


def fit_law(points: Sequence[tuple[int, float]]) -> Law:
    """The least-squares line through the median epoch of each size of ``(images, seconds)`` points (at least
    two distinct sizes).

    Medians, as every rate of the suite is a median of its rounds, and as :func:`held_out_error` measures: one
    slow round must not tilt the line. On a VM or a network volume it is systematic, not rare -- the first
    cold round of a dataset that nothing read for a while waits for the volume itself (5-10 ms a read here),
    the next ones are served by a cache below the page cache that eviction cannot drop (0.3 ms) -- and a fit
    through every round gave the row that happened to read each size first (ImageDataGenerator) a law
    predicting twice its measured epoch at a held-out size (+113%, docs/results.md).
    """
    sizes = sorted({images for images, _ in points})
    if len(sizes) < 2:
        raise ValueError(f"a law needs epochs at two sizes at least, got sizes {sizes}")
    x = np.array(sizes, dtype=float)
    y = np.array([np.median([s for n, s in points if n == images]) for images in sizes], dtype=float)
    # Non-negative least squares: a negative start-up or a negative cost per image is noise, never a law.
    (fixed, per_image), _ = nnls(np.column_stack([np.ones_like(x), x]), y)
    return Law(float(fixed), float(per_image), tuple(sizes))


def held_out_error(points: Sequence[tuple[int, float]], held_out: int, floor_s: float = 0.0,
                   extra_s: float = 0.0) -> float:
    """Relative error of the law fitted without ``held_out``'s points, predicting its median epoch:
    ``predicted / measured - 1`` (``0.05``: 5% slower predicted than measured); ``floor_s``: the epoch's
    storage bound at that size (:mod:`pipelines.study.bounds`), the prediction where it is the slower;
    ``extra_s``: work the law does not see and the epoch adds to it there (a memory cache's fresh pages,
    :mod:`pipelines.memory.fill_rate`)."""
    fit = [p for p in points if p[0] != held_out]
    measured = float(np.median([s for n, s in points if n == held_out]))
    return max(fit_law(fit).seconds(held_out) + extra_s, floor_s) / measured - 1.0
