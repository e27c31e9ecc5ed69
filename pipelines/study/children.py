"""Timing a size's points: in this process with the benchmarks' harness, or in a child process of its own --

* a level of ``k`` cores: a child pinned to ``k`` cores *before* it imports TensorFlow (which sizes its thread
  pools and AUTOTUNE from the affinity mask), timing every row's epochs at the middle fitted size;
* a memory cache's first epoch, one a child: TensorFlow keeps the memory a freed cache held and fills the next
  cache into it, so a second round in one process is not a first epoch any user pays for.

``python -m pipelines.study.children`` is the child (both sides of the exchange are here). It exits as soon as
the study is gone (``--parent-pid``); its scratch folder is swept by the next one made there.
"""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
from collections.abc import Callable, Sequence
from dataclasses import asdict, replace
from typing import Any

from pipelines.cleanup.children import child_environment, exit_with_parent, module_command
from pipelines.cleanup.scratch import scratch_folder
from pipelines.datasets import DatasetIndex
from pipelines.datasets.options import DATA_ROOT, IMAGES, PRESET, SEED
from pipelines.datasets.presets import PRESETS
from pipelines.harness.cases import EPOCH_KINDS, Case
from pipelines.harness.plan import MIN_ROUND_S, ROUNDS, RoundPlan
from pipelines.harness.settings import ACCELERATOR
from pipelines.limits.reaper import PARENT_PID
from pipelines.loaders.contract import CACHE_DIR, Contract
from pipelines.machine import available_cores
from pipelines.options import OUT, Option, add_options, command_parser
from pipelines.study.checkpoint import Checkpoint, Point
from pipelines.study.settings import STUDY_CASES
from pipelines.values import count, names

CORES = Option("--cores", "pin to this many cores", parse=count, metavar="N", default_text="all")
ROWS = Option("--rows", "measure only these case ids' first epochs", parse=names, metavar="CASE,CASE",
              default_text="every row, both epochs")


def measure_point(case: Case, epoch: str, index: DatasetIndex, base: Contract, plan: RoundPlan,
                  model: Any = None) -> Point:
    """``plan``'s rounds of ``case``'s epochs on ``index``: the loader's, or ``model.fit`` epochs fed by it."""
    from pipelines.epoch.run import run_epoch
    from pipelines.harness.cold_warm import sources_written_ahead, time_epochs
    from pipelines.harness.rounds import OffRecordBenchmark
    from pipelines.loaders import open_pipeline
    from pipelines.training import fit_epoch

    contract = case.contract(base)
    epoch_of = run_epoch if model is None else (lambda pipeline: fit_epoch(model, pipeline))
    timed = time_epochs(OffRecordBenchmark(), lambda: open_pipeline(case.loader, index, contract), epoch_of,
                        epoch, plan, fill=run_epoch, written_ahead=sources_written_ahead(contract, index))
    if timed.images != index.images:
        raise RuntimeError(f"{case.id} {epoch}: an epoch saw {timed.images} of {index.images} images")
    return Point(case.id, epoch, index.images, tuple(timed.round_seconds), timed.cache_bytes, index.bytes,
                 model=None if model is None else model.name)


def measure_sizes(indexes: Sequence[DatasetIndex], base: Contract, plan_at: Callable[[int], RoundPlan],
                  cases: Callable[[int], Sequence[Case]] = lambda images: STUDY_CASES,
                  progress: Callable[[str], None] = lambda step: None, model: Any = None,
                  skip: Callable[[Case, DatasetIndex], str | None] = lambda case, index: None,
                  checkpoint: Checkpoint | None = None, fresh: bool = False, settings: Any = None,
                  interleaved: bool = False) -> list[Point]:
    """Every row x epoch kind on every dataset (training ``model``) but those ``skip`` refuses, with ``fresh`` a
    memory cache's first epoch in children (of ``settings``); points are taken from ``checkpoint``, kept in it.
    ``interleaved``: one round of every point before the next round of any, so that each size's rounds span the
    whole measuring and a drift over minutes shows in their spread (the interval) instead of tilting one size."""
    points: dict[tuple, Point] = {}
    name = getattr(model, "name", None)
    turns = max(plan_at(index.images).rounds for index in indexes) if interleaved and indexes else 1
    for turn, index in itertools.product(range(1, turns + 1), indexes):
        plan = replace(plan_at(index.images), rounds=1) if interleaved else plan_at(index.images)
        for case in cases(index.images):
            skipped = skip(case, index)
            for epoch in EPOCH_KINDS:
                key = (case.id, epoch, index.images)
                point = None if skipped else checkpoint and checkpoint.take(
                    case.id, epoch, index.images, name, turn if interleaved else plan.rounds)
                if not skipped and not point:
                    point = (fresh_first_epoch(settings, case, index.images, plan, model is not None)
                             if fresh and epoch == "cold" and case.contract(base).cache_spec.in_ram else
                             measure_point(case, epoch, index, base, plan, model))
                    if key in points:
                        point = replace(point, seconds=points[key].seconds + point.seconds)
                    if checkpoint:
                        checkpoint.keep(point)
                if point:
                    points[key] = point
                progress(f"{case.id}-{epoch}{' training' if model is not None else ''} on {index.images:,} images"
                         f"{' skipped' if skipped else ''}{f' (round {turn})' if interleaved else ''}")
    return list(points.values())


def study_model(settings):
    """The model of the training columns: the emulated accelerator or MobileNet (random weights)."""
    from pipelines.training import ModelSpec, build_model
    return build_model(ModelSpec(PRESETS[settings.preset].classes, accelerator=settings.accelerator), settings.contract)


def core_levels(cores: int) -> tuple[int, ...]:
    """1, 2, 4, ... and ``cores`` itself: the levels measured on a machine of ``cores`` cores."""
    return (*itertools.takewhile(lambda k: k < cores, (2**i for i in itertools.count())), cores)


def fewer_cores() -> tuple[int, ...]:
    """The levels below all cores this machine measures (none where a process cannot be pinned: macOS)."""
    return core_levels(available_cores())[:-1] if hasattr(os, "sched_setaffinity") else ()


def pin(cores: int) -> None:
    """Run this process on the first ``cores`` of the cores it may use now."""
    allowed = sorted(os.sched_getaffinity(0))
    if not 1 <= cores <= len(allowed):
        raise ValueError(f"cannot pin to {cores} cores: this process may use {len(allowed)}")
    os.sched_setaffinity(0, allowed[:cores])


def in_child(settings, images: int, plan: RoundPlan, cores: int | None = None, row: str | None = None,
             model: bool = False) -> list:
    """The points a child measures at ``images``: every row's on ``cores`` cores, or ``row``'s first epochs
    (training the study's accelerator with ``model``)."""
    with scratch_folder("child", settings.contract.cache_dir) as folder:
        out = folder / "points.json"
        args = ["--preset", settings.preset, "--images", str(images), "--seed", str(settings.seed), "--rounds",
                str(plan.rounds), "--min-round-s", str(plan.min_round_s), "--out", str(out), "--parent-pid",
                str(os.getpid())]
        given = {"--cores": cores, "--rows": row, "--accelerator": model and settings.accelerator,
                 "--data-root": settings.data_root, "--cache-dir": settings.contract.cache_dir}
        args += [text for flag, value in given.items() if value for text in (flag, str(value))]
        done = subprocess.run(module_command("pipelines.study.children", args), env=child_environment(),
                              stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                              text=True)
        if done.returncode != 0:
            tail = "\n".join(done.stderr.strip().splitlines()[-5:])
            raise RuntimeError(f"measuring in a child ({' '.join(args[:4])}) failed ({done.returncode}):\n{tail}")
        return [Point.read(p) for p in json.loads(out.read_text())["points"]]


def fresh_first_epoch(settings, case, images: int, plan: RoundPlan, model: bool = False):
    """``case``'s first epoch at ``images``, each of ``plan``'s rounds one epoch in a child of its own."""
    rounds = [in_child(settings, images, RoundPlan(1, 0.0), row=case.id, model=model)[0] for _ in range(plan.rounds)]
    return replace(rounds[0], seconds=tuple(p.seconds[0] for p in rounds))


def measure_levels(settings, progress: Callable[[str, int], None] = lambda step, points: None) -> list:
    """Every level below all cores at ``settings.levels_images``, each child timing the study's rounds of at
    least its ``min_round_s``, as the all-cores point of that size is."""
    points = []
    for cores in fewer_cores():
        measured = in_child(settings, settings.levels_images, RoundPlan(settings.rounds, settings.min_round_s),
                            cores=cores)
        points.extend(measured)
        progress(f"{cores} core{'s' if cores != 1 else ''}", len(measured))
    return points


def main(argv: list[str] | None = None) -> int:
    """The child: pin first, then import TensorFlow (through the measuring module) and measure."""
    required = [replace(o, required=True, default=None, default_text="") for o in (PRESET, IMAGES, SEED, ROUNDS)]
    parser = command_parser("python -m pipelines.study.children", __doc__)
    add_options(parser.add_argument, CORES, ROWS, *required, MIN_ROUND_S, ACCELERATOR, DATA_ROOT, CACHE_DIR,
                replace(OUT, help="the JSON file the answer is written to", metavar="FILE", required=True,
                        default=None, default_text=""),
                replace(PARENT_PID, help="exit as soon as this process (the study that started it) is gone"),
                defaults={"min_round_s": 0.0})
    args = parser.parse_args(argv)
    if args.cores:
        pin(args.cores)
    if args.parent_pid:
        exit_with_parent(args.parent_pid)  # a study killed outright (kill -9) leaves no child measuring on
    from pipelines.datasets import prepare_dataset
    from pipelines.quiet_start import import_tensorflow
    from pipelines.study.settings import CASES_BY_ID, StudySettings

    import_tensorflow()
    index = prepare_dataset(None, args.preset, args.images, args.seed, args.data_root)
    contract, plan = Contract(cache_dir=args.cache_dir), RoundPlan(args.rounds, args.min_round_s)
    if args.rows:
        model = args.accelerator and study_model(StudySettings(args.preset, accelerator=args.accelerator,
                                                               contract=contract))
        points = [measure_point(CASES_BY_ID[row], "cold", index, contract, plan, model) for row in args.rows]
    else:
        points = [replace(p, cores=args.cores) for p in measure_sizes([index], contract, lambda images: plan)]
    args.out.write_text(json.dumps({"points": [asdict(p) for p in points]}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
