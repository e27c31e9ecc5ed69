"""``python -m pipelines.study``: the study's table for this machine and dataset shape, at full size.

    python -m pipelines.study --preset coco2017 --sizes 250,500,1000 --held-out 2000 --ram-budget 16GB \\
        [--accelerator 2000 | --no-model] [--full-images N] [--out reports/study]

Generates (or reuses) a dataset of the preset's shape at each size, times every study row's first and later
epochs there with a progress bar, fits each one's law, and prints the full-size table, the held-out error, and
the recommendation; writes ``study.md``, ``study.png`` and ``study.json`` (every measured point) to ``--out``.
This module is the command line; :mod:`pipelines.study.run` runs the study, :mod:`pipelines.study.output`
writes it.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # before TensorFlow is imported: its chatter hides the table

from pipelines.datasets import DatasetError  # noqa: E402
from pipelines.datasets.presets import PRESETS  # noqa: E402
from pipelines.loaders.contract import Contract  # noqa: E402
from pipelines.study.checkpoint import CHECKPOINT_NAME  # noqa: E402
from pipelines.study.output import STUDY_FILES, load_points, write_study  # noqa: E402
from pipelines.study.run import report_text, run_study  # noqa: E402
from pipelines.study.settings import StudySettings  # noqa: E402
from pipelines.limits.cgroup import CgroupUnavailable  # noqa: E402
from pipelines.limits.session import LIMIT_OPTIONS, limit_settings  # noqa: E402
from pipelines.units import format_bytes, parse_bytes, parse_list  # noqa: E402

#: Where the study writes its files unless ``--out`` says otherwise.
DEFAULT_OUT = Path("reports/study")


def build_parser() -> argparse.ArgumentParser:
    defaults = StudySettings()
    parser = argparse.ArgumentParser(prog="python -m pipelines.study", description=__doc__.split("\n\n")[0])
    parser.add_argument("--preset", choices=sorted(PRESETS),
                        help=f"dataset shape (default {defaults.preset}, or the one --points was measured on)")
    sizes = ",".join(map(str, defaults.sizes))
    parser.add_argument("--sizes", default=sizes,
                        help=f"dataset sizes to measure and fit, comma-separated (default {sizes})")
    parser.add_argument("--held-out", type=int, help="also measure this size, left out of the fit: the error")
    parser.add_argument("--full-images", type=int, help="the size to predict (default: the preset's full size)")
    budget = format_bytes(defaults.ram_budget)
    parser.add_argument("--ram-budget",
                        help=f"RAM for a memory cache and the page cache at full size (default {budget}, or "
                             "--ram-limit's)")
    for flag, kwargs in LIMIT_OPTIONS:
        parser.add_argument(flag, **kwargs)
    parser.add_argument("--accelerator", type=float, metavar="IMAGES_PER_SEC",
                        help="an emulated accelerator's rate instead of the real model")
    parser.add_argument("--no-model", action="store_true", help="loader epochs only: no model in the verdict")
    parser.add_argument("--training", choices=("measured", "composed"),
                        help="training columns from model.fit epochs timed at every size (default with "
                             "--accelerator), or composed from loader and model epochs (default for the real model)")
    parser.add_argument("--rounds", type=int, default=defaults.rounds,
                        help=f"timed rounds per point (default {defaults.rounds})")
    parser.add_argument("--min-round-s", type=float, default=defaults.min_round_s,
                        help=f"a round at a fitted size runs whole epochs for at least this long (default "
                             f"{defaults.min_round_s}; the --held-out size's are one epoch a round)")
    parser.add_argument("--held-out-rounds", type=int,
                        help="timed epochs at the --held-out size (default: --rounds; 1 for a full-size check)")
    parser.add_argument("--held-out-rows", metavar="CASE,CASE",
                        help="measure only these rows at the --held-out size (case ids, e.g. "
                             "tfdata-none-uint8,tfdata-file-uint8; default: every row): a full-size check in parts")
    parser.add_argument("--no-levels", action="store_true",
                        help="skip the parallelism levels (every row on 1, 2, 4, ... cores) and the stage costs")
    parser.add_argument("--seed", type=int, default=defaults.seed, help=f"dataset seed (default {defaults.seed})")
    parser.add_argument("--data-root", type=Path)
    parser.add_argument("--cache-dir", type=Path, help="where file caches are written (the disk you train from)")
    parser.add_argument("--points", type=Path,
                        help="predict again from a previous run's study.json, measuring nothing: its points, its "
                             "MobileNet rate and its device (for another --ram-budget, --accelerator, --full-images, "
                             "--held-out among its sizes; the measuring options are refused with it)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"where the files go (default {DEFAULT_OUT})")
    parser.add_argument("--resume", action="store_true",
                        help=f"go on from the points a stopped run with the same options kept in --out "
                             f"({CHECKPOINT_NAME}; every measuring run keeps one until its study.json is written)")
    return parser


#: Options that only say how to measure: ``--points`` measures nothing, so each would do nothing with it.
MEASURING_OPTIONS = (("--sizes", "sizes"), ("--rounds", "rounds"), ("--min-round-s", "min_round_s"),
                     ("--held-out-rounds", "held_out_rounds"),
                     ("--held-out-rows", "held_out_rows"),
                     ("--seed", "seed"), ("--data-root", "data_root"),
                     ("--no-levels", "no_levels"), ("--ram-limit", "ram_limit"),
                     ("--read-bandwidth", "read_bandwidth"), ("--run-exceeding", "run_exceeding"),
                     ("--resume", "resume"))


def settings_from_args(args: argparse.Namespace, measured_preset: str | None = None,
                       measured_sizes: tuple[int, ...] = ()) -> StudySettings:
    """The settings; ``measured_preset``: the shape ``--points`` were measured on (a different --preset is refused:
    its full size would be predicted from another shape's epochs; so is an option that only says how to measure);
    ``measured_sizes``: the sizes they hold, which the laws are fitted on (all but ``--held-out``)."""
    if measured_preset and args.preset not in (None, measured_preset):
        raise ValueError(f"--points were measured on {measured_preset}, not --preset {args.preset}")
    if args.points:
        defaults = build_parser().parse_args([])
        given = [option for option, name in MEASURING_OPTIONS if getattr(args, name) != getattr(defaults, name)]
        if given:
            raise ValueError(f"--points measures nothing, so {', '.join(given)} would do nothing with it: leave "
                             f"{'it' if len(given) == 1 else 'them'} out")
    sizes = parse_list(args.sizes, int, "--sizes", "250,500,1000: comma-separated image counts")
    if measured_sizes:  # --points: fitted on what they hold
        sizes = tuple(n for n in measured_sizes if n != args.held_out)
    limits = limit_settings(args.ram_limit, args.read_bandwidth, args.run_exceeding)
    budget = parse_bytes(args.ram_budget) if args.ram_budget else limits.ram_limit or StudySettings.ram_budget
    return StudySettings(preset=args.preset or measured_preset or StudySettings.preset, sizes=sizes,
                         held_out=args.held_out, full_images=args.full_images,
                         ram_budget=budget, accelerator=args.accelerator, limits=limits,
                         model=not args.no_model, training=args.training, rounds=args.rounds,
                         min_round_s=args.min_round_s, held_out_rounds=args.held_out_rounds,
                         held_out_rows=tuple(args.held_out_rows.split(",")) if args.held_out_rows else None,
                         levels=not args.no_levels, seed=args.seed,
                         data_root=args.data_root,
                         contract=Contract(cache_dir=args.cache_dir),
                         checkpoint=None if args.points else args.out / CHECKPOINT_NAME, resume=args.resume)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        preset, measured = load_points(args.points) if args.points else (None, None)
        held = tuple(sorted({p.images for p in measured.points if p.cores is None})) if measured else ()
        settings = settings_from_args(args, preset, held)
        result = run_study(settings, measured)
    except (ValueError, DatasetError, CgroupUnavailable) as error:
        print(f"study: {error}", file=sys.stderr)
        return 2
    write_study(args.out, result)
    if settings.checkpoint:  # every point is in study.json now
        settings.checkpoint.unlink(missing_ok=True)
    print(report_text(result))
    print(f"\nwritten: {', '.join(str(args.out / name) for name in STUDY_FILES)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
