"""``python -m pipelines.study``: each pipeline's epoch time for the full dataset on this machine, how sure that
is, and which to pick (docs/study.md).

    python -m pipelines.study --preset coco2017 --sizes 250,500,1000 --held-out 12000 --ram-budget 16GB \\
        [--accelerator 2000 | --no-model] [--full-images N] [--out reports/study]
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from pathlib import Path

from pipelines.datasets.options import DATA_ROOT, PRESET, SEED, SIZES
from pipelines.harness.plan import MIN_ROUND_S, ROUNDS
from pipelines.harness.settings import ACCELERATOR
from pipelines.limits.session import LimitSettings
from pipelines.loaders.contract import CACHE_DIR, Contract
from pipelines.options import OUT, add_options, command_parser, options_of, refuse, settings_from
from pipelines.study.settings import (CHECKPOINT_NAME, FULL_IMAGES, HELD_OUT, HELD_OUT_ROUNDS, HELD_OUT_ROWS,
                                      NO_LEVELS, NO_MODEL, POINTS, RESUME, STUDY_RAM, StudySettings)

PROG = "python -m pipelines.study"
DEFAULT_OUT = Path("reports/study")

#: The study's --preset: the shape measured and predicted (no --dataset here).
STUDY_PRESET = replace(PRESET, help="dataset shape measured and predicted",
                       default_text=f"{StudySettings.preset}, or the one --points was measured on")

#: The study's options, in the order ``--help`` lists them.
STUDY_OPTIONS = (STUDY_PRESET, SIZES, HELD_OUT, FULL_IMAGES, STUDY_RAM, LimitSettings, ACCELERATOR, NO_MODEL,
                 ROUNDS, MIN_ROUND_S, HELD_OUT_ROUNDS, HELD_OUT_ROWS, NO_LEVELS, SEED, DATA_ROOT, CACHE_DIR,
                 POINTS, OUT, RESUME)

#: Options that only say how to measure: ``--points`` measures nothing, so each would do nothing with it.
MEASURING_OPTIONS = (SIZES, ROUNDS, MIN_ROUND_S, HELD_OUT_ROUNDS, HELD_OUT_ROWS, SEED, DATA_ROOT, NO_LEVELS,
                     *(option for option, _ in options_of(LimitSettings)), RESUME)


def build_parser() -> argparse.ArgumentParser:
    parser = command_parser(PROG, __doc__)
    add_options(parser.add_argument, *STUDY_OPTIONS,
                defaults={"preset": None, "rounds": StudySettings.rounds, "out": DEFAULT_OUT})
    return parser


def settings_from_args(args: argparse.Namespace, measured_preset: str | None = None,
                       measured_sizes: tuple[int, ...] = ()) -> StudySettings:
    """The settings; with ``--points``, ``measured_preset`` is the shape they were measured on (another --preset
    is refused, as is an option that only says how to measure) and the laws are fitted on ``measured_sizes``."""
    if measured_preset and args.preset not in (None, measured_preset):
        raise ValueError(f"--points were measured on {measured_preset}, not --preset {args.preset}")
    if args.points:
        defaults = build_parser().parse_args([])
        given = [option.flag for option in MEASURING_OPTIONS
                 if getattr(args, option.dest) != getattr(defaults, option.dest)]
        if given:
            raise ValueError(f"--points measures nothing, so {', '.join(given)} would do nothing with it: leave "
                             f"{'it' if len(given) == 1 else 'them'} out")
    sizes = tuple(n for n in measured_sizes if n != args.held_out) if measured_sizes else args.sizes
    limits = settings_from(LimitSettings, args)
    return StudySettings(preset=args.preset or measured_preset or StudySettings.preset, sizes=sizes,
                         held_out=args.held_out, full_images=args.full_images,
                         ram_budget=args.ram_budget or limits.ram_limit or StudySettings.ram_budget,
                         accelerator=args.accelerator, model=not args.no_model,
                         rounds=args.rounds, min_round_s=args.min_round_s, held_out_rounds=args.held_out_rounds,
                         held_out_rows=args.held_out_rows, levels=not args.no_levels, seed=args.seed,
                         data_root=args.data_root, limits=limits, contract=Contract(cache_dir=args.cache_dir),
                         checkpoint=None if args.points else args.out / CHECKPOINT_NAME, resume=args.resume)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from pipelines.quiet_start import import_tensorflow

    preset, measured, sizes = None, None, ()
    try:
        if args.points:  # its reader sits beside the measuring code, which imports TensorFlow
            import_tensorflow()
            from pipelines.study.output import load_points

            preset, measured = load_points(args.points)
            sizes = tuple(sorted({p.images for p in measured.points if p.cores is None}))
        settings = settings_from_args(args, preset, sizes)
    except ValueError as error:
        return refuse(PROG, error)
    import_tensorflow()  # after the arguments are checked: --help and a refusal return at once
    from pipelines.datasets import DatasetError
    from pipelines.limits.cgroup import CgroupUnavailable
    from pipelines.study.output import STUDY_FILES, report_text, write_study
    from pipelines.study.run import run_study

    try:
        result = run_study(settings, measured)
    except (ValueError, DatasetError, CgroupUnavailable) as error:
        return refuse(PROG, error)
    write_study(args.out, result)
    if settings.checkpoint:  # every point is in study.json now
        settings.checkpoint.unlink(missing_ok=True)
    print(report_text(result))
    print(f"\nwritten: {', '.join(str(args.out / name) for name in STUDY_FILES)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
