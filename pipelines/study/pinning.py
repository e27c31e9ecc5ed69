"""Running a process on fewer cores than the machine has, so that a parallelism level of ``k`` cores is measured
as it would run on a ``k``-core machine.

A process is pinned to the first ``k`` of its cores (``os.sched_setaffinity``) *before* TensorFlow is imported
there: TensorFlow sizes its thread pools and tf.data's AUTOTUNE from the affinity mask, and ImageDataGenerator's
workers follow :attr:`~pipelines.loaders.contract.Contract.workers` (the mask too), so every loader sees only
those cores. Nothing here imports TensorFlow; the pinned child itself is :mod:`pipelines.study.levels`.
"""

from __future__ import annotations

import os

from pipelines.machine import available_cores


def core_levels(cores: int) -> tuple[int, ...]:
    """1, 2, 4, ... and ``cores`` itself: the parallelism levels measured on a machine of ``cores`` cores."""
    levels, k = [], 1
    while k < cores:
        levels.append(k)
        k *= 2
    return (*levels, cores)


def can_pin() -> bool:
    """Whether this platform can run a process on fewer cores than it has (Linux can; macOS cannot)."""
    return hasattr(os, "sched_setaffinity")


def fewer_cores() -> tuple[int, ...]:
    """The levels below all cores that this machine measures (none where a process cannot be pinned)."""
    return core_levels(available_cores())[:-1] if can_pin() else ()


def pin(cores: int) -> None:
    """Run this process on the first ``cores`` of the cores it may use now."""
    allowed = sorted(os.sched_getaffinity(0))
    if not 1 <= cores <= len(allowed):
        raise ValueError(f"cannot pin to {cores} cores: this process may use {len(allowed)}")
    os.sched_setaffinity(0, allowed[:cores])
