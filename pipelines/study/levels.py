"""Parallelism levels: how each study row's epochs scale from one core to all of them, each level measured in
a child process of its own, and the stage costs (:mod:`pipelines.study.stages`) measured in another.

A level of ``k`` cores is measured by ``python -m pipelines.study.levels --cores k``, a child that pins itself
(:func:`pipelines.study.pinning.pin`) before it imports TensorFlow, then times every study row's cold and warm
epochs with the same harness as the scaling points (:func:`~pipelines.study.scaling.measure_sizes`). The stage
passes run in a fresh, unpinned child (``--stages``). Both sides of that exchange -- the child's arguments and
the JSON answer it writes -- are here.

A child exits as soon as the study that started it is gone (it watches the study's pid: ``--parent-pid``), so a
study killed outright leaves no child measuring on; the scratch folders either leaves (``loaderbench-cores-*``
for the child's answer, ``loaderbench-stages-*`` for the stage passes' file caches, both under the study's cache
folder) are swept by the next scratch folder made there (:mod:`pipelines.cleanup.scratch`).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from pathlib import Path

from pipelines.cleanup.children import child_environment, exit_with_parent, module_command
from pipelines.cleanup.scratch import scratch_folder
from pipelines.datasets.options import DATA_ROOT, IMAGES, PRESET, SEED
from pipelines.harness.plan import MIN_ROUND_S, ROUNDS, RoundPlan
from pipelines.limits.reaper import PARENT_PID
from pipelines.loaders.contract import CACHE_DIR, Contract
from pipelines.options import OUT, Option, add_options, command_parser
from pipelines.values import count
from pipelines.study.pinning import fewer_cores, pin
from pipelines.study.stages import STAGE_ROUNDS, STAGE_SAMPLE, StageCost, measure_stages

CORES = Option("--cores", "pin to this many cores", parse=count, metavar="N", default_text="do not pin")
STAGES = Option("--stages", "measure the stage costs on one thread instead", parse=None, default=False)


@dataclass(frozen=True)
class Levels:
    """What the children measured: the study's points at fewer cores than all (:class:`~pipelines.study.scaling.
    Point`, ``cores`` set; not imported here, where TensorFlow must wait for the pinning) and the stage costs
    on one thread."""

    points: tuple
    stages: tuple[StageCost, ...]


def measure_levels(preset: str, images: int, seed: int, data_root: Path | None, contract: Contract,
                   rounds: int, progress: Callable[[str, int], None] = lambda step, points: None,
                   min_round_s: float = 0.0) -> Levels:
    """The stage costs (in a fresh child of their own: the threads a pinned child's earlier pipelines leave
    behind would share its one core with the passes), then every level below all cores, each in a pinned
    child timing ``rounds`` rounds of at least ``min_round_s`` -- as the all-cores point of that size is, which
    the levels are read against; ``progress`` is told each child's points once it is done."""
    stages = _child(preset, images, seed, data_root, contract, RoundPlan(STAGE_ROUNDS, 0.0), None,
                    stages=True).stages
    progress("stage costs", 0)
    points = []
    for cores in fewer_cores():
        measured = _child(preset, images, seed, data_root, contract, RoundPlan(rounds, min_round_s), cores,
                          stages=False)
        points.extend(measured.points)
        progress(f"{cores} core{'s' if cores != 1 else ''}", len(measured.points))
    return Levels(tuple(points), tuple(stages))


def _child(preset: str, images: int, seed: int, data_root: Path | None, contract: Contract, plan: RoundPlan,
           cores: int | None, stages: bool) -> Levels:
    from pipelines.study.scaling import Point

    # The study's scratch (this folder for the child's answer, the child's stage caches) lives beside its file
    # caches: a killed study's is swept with them, by the next scratch folder made there (pipelines.cleanup.scratch).
    with scratch_folder("cores", contract.cache_dir) as folder:
        out = folder / "levels.json"
        args = ["--preset", preset, "--images", str(images), "--seed", str(seed), "--rounds", str(plan.rounds),
                "--min-round-s", str(plan.min_round_s), "--out", str(out), "--parent-pid", str(os.getpid())]
        args += ["--cores", str(cores)] if cores else []
        args += ["--stages"] if stages else []
        args += ["--data-root", str(data_root)] if data_root else []
        args += ["--cache-dir", str(contract.cache_dir)] if contract.cache_dir else []
        done = subprocess.run(module_command("pipelines.study.levels", args), env=child_environment(),
                              stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                              text=True)
        if done.returncode != 0:
            tail = "\n".join(done.stderr.strip().splitlines()[-5:])
            raise RuntimeError(f"measuring {cores or 'the stages on'} core(s) failed ({done.returncode}):\n{tail}")
        saved = json.loads(out.read_text())
    return Levels(tuple(Point(**{**p, "seconds": tuple(p["seconds"])}) for p in saved["points"]),
                  tuple(StageCost(s["stage"], tuple(s["seconds"])) for s in saved["stages"]))


def _required(option: Option) -> Option:
    """``option`` as this child takes it: always given by the study that starts it, so no default to show."""
    return replace(option, required=True, default=None, default_text="")


def main(argv: list[str] | None = None) -> int:
    """The child: pin first, then import TensorFlow (through the measuring modules) and measure."""
    parser = command_parser("python -m pipelines.study.levels", __doc__)
    add_options(parser.add_argument, CORES, *map(_required, (PRESET, IMAGES, SEED, ROUNDS)), MIN_ROUND_S, STAGES,
                DATA_ROOT, CACHE_DIR, _required(replace(OUT, help="the JSON file the answer is written to",
                                                        metavar="FILE")),
                replace(PARENT_PID, help="exit as soon as this process (the study that started this one) is gone"),
                defaults={"min_round_s": 0.0})
    args = parser.parse_args(argv)
    if args.cores:
        pin(args.cores)
    if args.parent_pid:
        exit_with_parent(args.parent_pid)  # a study killed outright (kill -9) leaves no child measuring on
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

    from pipelines.datasets import prepare_dataset
    from pipelines.study.scaling import measure_sizes

    index = prepare_dataset(None, args.preset, args.images, args.seed, args.data_root)
    contract = Contract(cache_dir=args.cache_dir)
    plan = RoundPlan(args.rounds, args.min_round_s)
    points = ([replace(p, cores=args.cores) for p in measure_sizes([index], contract, plan)]
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
