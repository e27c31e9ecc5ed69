"""Per-stage costs: what each stage of an image's work costs on one core -- measured, not assumed -- and the
images/s a tf.data row would reach on ``k`` cores if those costs were all there is.

Stage costs follow Plumber (MLSys 2022): each stage's seconds per image on one core, from tf.data passes over a
sample of the dataset run on one thread with the files in the page cache. The passes are cumulative (read; read
+ decode; + resize; + normalise), so a stage's cost is the difference between two real pipelines, not a
micro-benchmark of an op on its own; the caches' costs are a writing pass (minus the pass that makes what it
writes) and a reading pass. :func:`predicted_rate` then predicts a tf.data row's images/s on ``k`` cores as
``k / (sum of its stages' costs)`` -- the stages run in one parallel map, so a core does each of them per image
-- and the study prints that next to the measured level, the error being the model's.

The passes run in a child process of their own (:func:`pipelines.study.levels.measure_levels`): TensorFlow is
imported here only inside :func:`measure_stages`.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from pipelines.loaders.contract import Contract

#: Images the stage costs are measured on (the first of the dataset's): passes of about a second on one thread
#: for the ``coco2017`` shape, the same for every dataset size.
STAGE_SAMPLE = 256

#: Rounds of the stage passes: a stage's cost is a difference of two passes, so it carries both passes' noise.
STAGE_ROUNDS = 5

#: The stages, in the order an image meets them; the caches read or write a uint8 image of the contract's size.
STAGES: tuple[str, ...] = ("read", "decode", "resize", "normalise", "file cache write", "file cache read",
                           "memory cache read")

#: The stages one image goes through in a later (warm) epoch of each tf.data study row with a uint8 placement:
#: what :func:`predicted_rate` adds up. ImageDataGenerator's work is Pillow's and float32 caches read four times
#: the bytes: they are measured at every level but not predicted from these stages.
ROW_STAGES: dict[str, tuple[str, ...]] = {
    "tfdata-none-uint8": ("read", "decode", "resize", "normalise"),
    "tfdata-memory-uint8": ("memory cache read", "normalise"),
    "tfdata-file-uint8": ("file cache read", "normalise"),
}


@dataclass(frozen=True)
class StageCost:
    """One stage's seconds per image on one core, a value per round.

    Attributes:
        stage: one of :data:`STAGES`.
        seconds: seconds per image, each round's (a difference of two passes: can come out below zero when the
            stage costs less than the passes' noise).
    """

    stage: str
    seconds: tuple[float, ...]

    @property
    def median_s(self) -> float:
        return statistics.median(self.seconds)

    @property
    def spread_s(self) -> float:
        """Half the rounds' range, in seconds per image."""
        return (max(self.seconds) - min(self.seconds)) / 2


def stage_costs(passes: dict[str, Sequence[float]], images: int) -> list[StageCost]:
    """Stage costs from the timed passes (seconds per round, each over ``images`` images), by pass name:
    ``read``, ``decode``, ``resize``, ``normalise`` are cumulative (each includes the ones before it),
    ``file cache write`` is the pass that resizes and writes, the two cache reads are whole passes."""
    def per_image(name: str, minus: str | None = None) -> tuple[float, ...]:
        less = passes[minus] if minus else [0.0] * len(passes[name])
        return tuple((t - u) / images for t, u in zip(passes[name], less))

    return [StageCost("read", per_image("read")),
            StageCost("decode", per_image("decode", "read")),
            StageCost("resize", per_image("resize", "decode")),
            StageCost("normalise", per_image("normalise", "resize")),
            StageCost("file cache write", per_image("file cache write", "resize")),
            StageCost("file cache read", per_image("file cache read")),
            StageCost("memory cache read", per_image("memory cache read"))]


def predicted_rate(costs: Sequence[StageCost], case: str, cores: int) -> float | None:
    """Images/s of ``case``'s warm epoch on ``cores`` cores from its stages' costs (``None``: not a row the
    stages describe, see :data:`ROW_STAGES`)."""
    if case not in ROW_STAGES:
        return None
    by_stage = {c.stage: max(c.median_s, 0.0) for c in costs}
    per_image = sum(by_stage[s] for s in ROW_STAGES[case])
    return cores / per_image if per_image > 0 else None


def measure_stages(paths: Sequence[Path], contract: Contract, rounds: int, scratch: Path) -> list[StageCost]:
    """Time the cumulative passes over ``paths`` on one thread (files read once first: the page cache) and
    return the stage costs (see the module docstring). ``scratch``: a folder for the file caches written."""
    import tensorflow as tf

    from pipelines.loaders.tfops import decoded, normalise, resized
    from pipelines.epoch.run import on_threads

    # Each pass is one map doing every stage up to its own, as the loaders' one parallel map does, with the
    # loaders' own ops.
    names = tf.data.Dataset.from_tensor_slices([str(p) for p in paths])
    chain = {"read": names.map(tf.io.read_file),
             "decode": names.map(lambda p: decoded(tf.io.read_file(p))),
             "resize": names.map(lambda p: resized(decoded(tf.io.read_file(p)), contract)),
             "normalise": names.map(lambda p: normalise(resized(decoded(tf.io.read_file(p)), contract)))}

    def timed(dataset: tf.data.Dataset) -> Callable[[], float]:
        """A timed drain of ``dataset`` on one thread, traced now so tracing is not timed."""
        drain = tf.function(lambda: on_threads(dataset, 1).reduce(tf.constant(0, tf.int64), lambda n, _: n + 1))
        drain.get_concrete_function()

        def run() -> float:
            start = time.perf_counter()
            seen = int(drain())
            if seen != len(paths):
                raise RuntimeError(f"a stage pass saw {seen} of {len(paths)} images")
            return time.perf_counter() - start
        return run

    passes: dict[str, list[float]] = {name: [] for name in (*chain, "file cache write", "file cache read",
                                                            "memory cache read")}
    drains = {name: timed(dataset) for name, dataset in chain.items()}
    drains["read"]()  # the page cache
    for round_ in range(rounds):
        for name, drain in drains.items():
            passes[name].append(drain())
        in_file = chain["resize"].cache(str(scratch / f"stages-{round_}"))
        write, read = timed(in_file), timed(in_file)
        passes["file cache write"].append(write())
        passes["file cache read"].append(read())
        in_memory = chain["resize"].cache()
        fill, read = timed(in_memory), timed(in_memory)
        fill()
        passes["memory cache read"].append(read())
    return stage_costs(passes, len(paths))
