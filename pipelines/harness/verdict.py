"""Is an epoch limited by the input pipeline or by the model? Plain arithmetic, kept apart to be tested.

Utilisation in MLPerf Storage's sense: the time the model alone needs for the epoch's images divided by the
real epoch time, both medians of several rounds; at 90% or more the loader keeps up. A verdict claims only
what the noise allows: utilisation is known to within a band -- the relative spread of the case's rounds plus
that of the model-only rounds -- and a verdict is ``compute-bound`` only when the whole band lies at or above
90%, ``input-bound`` only when it lies below, and ``within noise`` otherwise. So no verdict can disagree with
the utilisation printed beside it, and a speed-up between two rows is a ratio of the same epoch times.

On a machine with no accelerator the loader's threads run on the cores that also run the model: a loader
faster than the model alone still slows it by taking CPU time, and a cheaper loader speeds training. Verdicts
short of ``compute-bound`` say so there: ``input-bound (shares CPU)``.
"""

from __future__ import annotations

import math

COMPUTE_BOUND_AT = 0.9
SHARES_CPU = " (shares CPU)"


def utilisation(images: int, model_images_per_sec: float, epoch_s: float) -> float:
    """Model-only time for ``images`` / real epoch time (can exceed 1.0 by noise; not clipped)."""
    if images <= 0 or model_images_per_sec <= 0 or epoch_s <= 0:
        raise ValueError("images, model_images_per_sec and epoch_s must be positive")
    return (images / model_images_per_sec) / epoch_s


def noise_band(*spreads: float | None) -> float:
    """The relative uncertainty of a ratio of medians: the sum of their relative spreads (unknown counts 0)."""
    return sum(s for s in spreads if s is not None and not math.isnan(s))


def verdict(utilisation_value: float, band: float = 0.0, cpu_only: bool = False,
            threshold: float = COMPUTE_BOUND_AT) -> str:
    """``compute-bound``, ``input-bound`` or ``within noise``, from utilisation and its relative ``band``."""
    if math.isnan(utilisation_value):
        return "unknown"
    if utilisation_value * (1 - band) >= threshold:
        return "compute-bound"
    word = "input-bound" if utilisation_value * (1 + band) < threshold else "within noise"
    return word + SHARES_CPU if cpu_only else word
