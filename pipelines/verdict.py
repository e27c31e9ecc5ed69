"""Is an epoch limited by the input pipeline or by the model? Plain arithmetic, kept apart to be tested.

Two figures, both reported: the loader's throughput next to the model's (on in-memory tensors, no loader),
and utilisation in MLPerf Storage's sense: the time the model alone needs for the epoch's images divided by
the real epoch time (at 90% or more the loader keeps up). The verdict comes from the throughputs when both
are known -- a loader slower than the model starves it -- and from utilisation otherwise. Utilisation under
90% next to a loader much faster than the model means something else takes the time: on a CPU-only machine
the loader's threads compete with the model's for the same cores, and on a small shared VM, noise (the
model-only epoch itself varied by 30% between minutes here).
"""

from __future__ import annotations

import math

COMPUTE_BOUND_AT = 0.9


def utilisation(images: int, model_images_per_sec: float, epoch_s: float) -> float:
    """Model-only time for ``images`` / real epoch time (can exceed 1.0 by noise; not clipped)."""
    if images <= 0 or model_images_per_sec <= 0 or epoch_s <= 0:
        raise ValueError("images, model_images_per_sec and epoch_s must be positive")
    return (images / model_images_per_sec) / epoch_s


def verdict(utilisation_value: float, threshold: float = COMPUTE_BOUND_AT) -> str:
    """``compute-bound`` at or above ``threshold`` (the loader keeps up), else ``input-bound``."""
    if math.isnan(utilisation_value):
        return "unknown"
    return "compute-bound" if utilisation_value >= threshold else "input-bound"


def loader_verdict(loader_images_per_sec: float, model_images_per_sec: float) -> str:
    """From throughput alone: a loader slower than the model starves it."""
    return "input-bound" if loader_images_per_sec < model_images_per_sec else "compute-bound"


def bottleneck(loader_images_per_sec: float | None, model_images_per_sec: float, utilisation_value: float) -> str:
    """The case's verdict: by throughputs when the loader's is known, else by utilisation."""
    if loader_images_per_sec:
        return loader_verdict(loader_images_per_sec, model_images_per_sec)
    return verdict(utilisation_value)
