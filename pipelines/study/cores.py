"""Parallelism levels and per-stage costs: how each study row's epochs scale from one core to all of them, and
what each stage of an image's work costs on one core -- measured, not assumed.

A level of ``k`` cores is measured in a child process pinned to the first ``k`` cores of this one
(``os.sched_setaffinity``) *before* TensorFlow is imported there: TensorFlow sizes its thread pools and tf.data's
AUTOTUNE from the affinity mask, and ImageDataGenerator's workers follow
:attr:`~pipelines.config.Contract.workers` (the mask too), so every loader runs as it would on a ``k``-core
machine. The child times every study row's cold and warm epochs with the same harness as the scaling points
(:func:`~pipelines.study.scaling.measure_sizes`).

Stage costs follow Plumber (MLSys 2022): each stage's seconds per image on one core, from tf.data passes over a
sample of the dataset run on one thread with the files in the page cache. The passes are cumulative (read; read
+ decode; + resize; + normalise), so a stage's cost is the difference between two real pipelines, not a
micro-benchmark of an op on its own; the caches' costs are a writing pass (minus the pass that makes what it
writes) and a reading pass. :func:`predicted_rate` then predicts a tf.data row's images/s on ``k`` cores as
``k / (sum of its stages' costs)`` -- the stages run in one parallel map, so a core does each of them per image
-- and the study prints that next to the measured level, the error being the model's.

A child exits as soon as the study that started it is gone (it watches the study's pid: ``--parent-pid``), so a
study killed outright leaves no child measuring on; the scratch folders either leaves (``loaderbench-cores-*``
for the child's answer, ``loaderbench-stages-*`` for the stage passes' file caches, both under the study's cache
folder) are swept by the next scratch folder made there (:mod:`pipelines.scratch`).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path

from pipelines.child import child_environment, module_command
from pipelines.config import Contract, available_cores
from pipelines.scratch import scratch_folder

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
    from pipelines.measure import on_threads

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


@dataclass(frozen=True)
class Levels:
    """What the children measured: the study's points at fewer cores than all (:class:`~pipelines.study.scaling.
    Point`, ``cores`` set; not imported here, where TensorFlow must wait for the pinning) and the stage costs
    on one thread."""

    points: tuple
    stages: tuple[StageCost, ...]


def measure_levels(preset: str, images: int, seed: int, data_root: Path | None, contract: Contract,
                   rounds: int, progress: Callable[[str, int], None] = lambda step, points: None) -> Levels:
    """The stage costs (in a fresh child of their own: the threads a pinned child's earlier pipelines leave
    behind would share its one core with the passes), then every level below all cores, each in a pinned
    child; ``progress`` is told each child's points once it is done."""
    stages = _child(preset, images, seed, data_root, contract, STAGE_ROUNDS, None, stages=True).stages
    progress("stage costs", 0)
    points = []
    for cores in fewer_cores():
        measured = _child(preset, images, seed, data_root, contract, rounds, cores, stages=False)
        points.extend(measured.points)
        progress(f"{cores} core{'s' if cores != 1 else ''}", len(measured.points))
    return Levels(tuple(points), tuple(stages))


def _child(preset: str, images: int, seed: int, data_root: Path | None, contract: Contract, rounds: int,
           cores: int | None, stages: bool) -> Levels:
    from pipelines.study.scaling import Point

    # The study's scratch (this folder for the child's answer, the child's stage caches) lives beside its file
    # caches: a killed study's is swept with them, by the next scratch folder made there (pipelines.scratch).
    with scratch_folder("cores", contract.cache_dir) as folder:
        out = folder / "levels.json"
        args = ["--preset", preset, "--images", str(images), "--seed", str(seed), "--rounds", str(rounds),
                "--out", str(out), "--parent-pid", str(os.getpid())]
        args += ["--cores", str(cores)] if cores else []
        args += ["--stages"] if stages else []
        args += ["--data-root", str(data_root)] if data_root else []
        args += ["--cache-dir", str(contract.cache_dir)] if contract.cache_dir else []
        done = subprocess.run(module_command("pipelines.study.cores", args), env=child_environment(),
                              stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                              text=True)
        if done.returncode != 0:
            tail = "\n".join(done.stderr.strip().splitlines()[-5:])
            raise RuntimeError(f"measuring {cores or 'the stages on'} core(s) failed ({done.returncode}):\n{tail}")
        saved = json.loads(out.read_text())
    return Levels(tuple(Point(**{**p, "seconds": tuple(p["seconds"])}) for p in saved["points"]),
                  tuple(StageCost(s["stage"], tuple(s["seconds"])) for s in saved["stages"]))


def main(argv: list[str] | None = None) -> int:
    """The child: pin first, then import TensorFlow and measure."""
    parser = argparse.ArgumentParser(prog="python -m pipelines.study.cores")
    parser.add_argument("--cores", type=int, help="pin to this many cores (default: do not pin)")
    parser.add_argument("--preset", required=True)
    parser.add_argument("--images", type=int, required=True)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--stages", action="store_true", help="measure the stage costs on one thread instead")
    parser.add_argument("--data-root", type=Path)
    parser.add_argument("--cache-dir", type=Path)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--parent-pid", type=int,
                        help="exit as soon as this process (the study that started this one) is gone")
    args = parser.parse_args(argv)
    if args.cores:
        pin(args.cores)
    if args.parent_pid:
        from pipelines.child import exit_with_parent  # no TensorFlow yet: it must follow the pinning

        exit_with_parent(args.parent_pid)  # a study killed outright (kill -9) leaves no child measuring on
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

    from pipelines.datasets import prepare_dataset
    from pipelines.study.scaling import measure_sizes

    index = prepare_dataset(None, args.preset, args.images, args.seed, args.data_root)
    contract = Contract(cache_dir=args.cache_dir)
    points = ([replace(p, cores=args.cores) for p in measure_sizes([index], contract, args.rounds)]
              if args.cores and not args.stages else [])
    stages = []
    if args.stages:
        with scratch_folder("stages", args.cache_dir) as scratch:
            stages = measure_stages(index.paths[:STAGE_SAMPLE], contract, args.rounds, scratch)
    args.out.write_text(json.dumps({"points": [asdict(p) for p in points],
                                    "stages": [asdict(s) for s in stages]}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
