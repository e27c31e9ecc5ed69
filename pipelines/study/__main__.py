"""``python -m pipelines.study``: the study's table for this machine and dataset shape, at full size.

    python -m pipelines.study --preset coco2017 --sizes 250,500,1000 --held-out 2000 --ram-budget 16GB \\
        [--accelerator 2000 | --no-model] [--full-images N] [--out reports/study]

Generates (or reuses) a dataset of the preset's shape at each size, times every study row's first and later
epochs there with a progress bar, fits each one's law, and prints the full-size table, the held-out error, and
the recommendation; writes ``study.md``, ``study.png`` and ``study.json`` (every measured point) to ``--out``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from dataclasses import asdict
from pathlib import Path

from tqdm import tqdm

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # before TensorFlow is imported: its chatter hides the table

from pipelines.config import PRESETS, Contract, RoundPlan, StudySettings  # noqa: E402
from pipelines.datasets import DatasetError, prepare_dataset  # noqa: E402
from pipelines.machine import machine_info  # noqa: E402
from pipelines.memory.predict import free_disk, predict_cache  # noqa: E402
from pipelines.study.recommend import recommend  # noqa: E402
from pipelines.study.scaling import STUDY_CASES, Point, measure_sizes  # noqa: E402
from pipelines.study.table import held_out_errors, laws, study_rows, table_lines  # noqa: E402
from pipelines.units import format_bytes, parse_bytes  # noqa: E402


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m pipelines.study", description=__doc__.split("\n\n")[0])
    parser.add_argument("--preset", choices=sorted(PRESETS),
                        help=f"dataset shape (default {StudySettings.preset}, or the one --points was measured on)")
    parser.add_argument("--sizes", default=",".join(map(str, StudySettings.sizes)),
                        help="dataset sizes to measure and fit, comma-separated (default 250,500,1000)")
    parser.add_argument("--held-out", type=int, help="also measure this size, left out of the fit: the error")
    parser.add_argument("--full-images", type=int, help="the size to predict (default: the preset's full size)")
    parser.add_argument("--ram-budget", default="16GB", help="RAM for a memory cache and the page cache (16GB)")
    parser.add_argument("--accelerator", type=float, metavar="IMAGES_PER_SEC",
                        help="an emulated accelerator's rate instead of the real model")
    parser.add_argument("--no-model", action="store_true", help="loader epochs only: no model in the verdict")
    parser.add_argument("--rounds", type=int, default=StudySettings.rounds, help="timed epochs per point (3)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--data-root", type=Path)
    parser.add_argument("--cache-dir", type=Path, help="where file caches are written (the disk you train from)")
    parser.add_argument("--points", type=Path, help="predict again from a previous run's study.json, measuring "
                                                    "nothing (another --ram-budget, --accelerator, --full-images)")
    parser.add_argument("--out", type=Path, default=Path("reports/study"))
    return parser


def settings_from_args(args: argparse.Namespace, measured_preset: str | None = None) -> StudySettings:
    """The settings; ``measured_preset``: the shape ``--points`` were measured on (a different --preset is refused:
    its full size would be predicted from another shape's epochs)."""
    if measured_preset and args.preset not in (None, measured_preset):
        raise ValueError(f"--points were measured on {measured_preset}, not --preset {args.preset}")
    try:
        sizes = tuple(int(s) for s in args.sizes.split(","))
    except ValueError:
        raise ValueError(f"--sizes: comma-separated image counts, got {args.sizes!r}") from None
    return StudySettings(preset=args.preset or measured_preset or StudySettings.preset, sizes=sizes,
                         held_out=args.held_out, full_images=args.full_images,
                         ram_budget=parse_bytes(args.ram_budget), accelerator=args.accelerator,
                         model=not args.no_model, rounds=args.rounds, seed=args.seed, data_root=args.data_root,
                         contract=Contract(cache_dir=args.cache_dir))


def model_rate(settings: StudySettings, classes: int) -> float | None:
    """Images/s of the model alone: the emulated accelerator's, or MobileNet's measured on in-memory tensors."""
    if not settings.model:
        return None
    if settings.accelerator:
        return settings.accelerator
    from pipelines.harness import OffRecordBenchmark, time_rounds
    from pipelines.training import ModelOnly, ModelSpec, build_model

    images = 4 * settings.contract.batch_size
    alone = ModelOnly(build_model(ModelSpec(classes), settings.contract), settings.contract, images, classes)
    timed = time_rounds(OffRecordBenchmark(), alone.epoch, RoundPlan(rounds=settings.rounds, min_round_s=0.0))
    return timed.images_per_sec()


def measure(settings: StudySettings) -> list[Point]:
    """Every study row's cold and warm epochs at every size (and the held-out one), with a progress bar."""
    sizes = sorted(settings.sizes) + ([settings.held_out] if settings.held_out else [])
    indexes = [prepare_dataset(None, settings.preset, n, settings.seed, settings.data_root) for n in sizes]
    with tqdm(total=len(indexes) * len(STUDY_CASES) * 2, desc="study", unit="point", file=sys.stderr) as bar:
        def measured(step: str) -> None:
            bar.set_postfix_str(step)
            bar.update(1)

        return measure_sizes(indexes, settings.contract, settings.rounds, progress=measured)


def load_points(path: Path) -> tuple[str, list[Point]]:
    """The preset and points a previous study saved (``study.json``), to predict again without measuring."""
    try:
        saved = json.loads(Path(path).read_text())
        return saved["settings"]["preset"], [Point(**{**p, "seconds": tuple(p["seconds"])}) for p in saved["points"]]
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise ValueError(f"--points {path}: not a study.json written by this command ({error})") from None


def run(settings: StudySettings, out: Path, points: list[Point] | None = None) -> str:
    """The study: measure (unless ``points`` are given), fit, predict, recommend; returns the printed report
    and writes the files."""
    points = points if points is not None else measure(settings)
    fitted = laws(points, exclude=settings.held_out)
    errors = held_out_errors(points, settings.held_out) if settings.held_out else {}
    datasets = {p.images: p.dataset_bytes for p in points}
    per_image_bytes = sum(datasets.values()) / sum(datasets)
    full = settings.full_size
    rows = study_rows(STUDY_CASES, fitted, full, int(per_image_bytes * full), settings.contract,
                      settings.ram_budget, free_disk(settings.contract.cache_dir))
    rate = model_rate(settings, PRESETS[settings.preset].classes)
    machine = machine_info()
    shares_cpu = str(machine["device"]).startswith("CPU") and not settings.accelerator
    advice = recommend(rows, full, rate, settings.ram_budget, cpu_only=shares_cpu)
    model = (f"emulated accelerator {settings.accelerator:g} img/s" if settings.accelerator
             else f"MobileNet alone {rate:.0f} img/s" if rate else "no model")
    fitted_sizes = ", ".join(f"{n:,}" for n in sorted(set(datasets) - {settings.held_out}))
    head = [f"{settings.preset} at full size: {full:,} images, ~{format_bytes(per_image_bytes * full)} of JPEGs; "
            f"RAM budget {format_bytes(settings.ram_budget)}; {model}",
            f"measured on {machine['device']} at {fitted_sizes} images (fitted: seconds = fixed + per image x images)"
            + (f", checked on {settings.held_out:,} held out (error: predicted/measured - 1, first / later)"
               if settings.held_out else "")]
    model_s = full / rate if rate else None
    head.append(cache_bytes_check(points, settings.contract))
    text = "\n".join([*head, "", *table_lines(rows, errors, model_s=model_s, shares_cpu=shares_cpu), "",
                      f"Recommended: {advice.reason}."])
    _write(out, settings, rows, errors, points, head, advice.reason, model_s, shares_cpu)
    return text


def cache_bytes_check(points: list[Point], contract: Contract) -> str:
    """The predictor behind the cache column, against the file caches measured at the largest size."""
    largest = max(p.images for p in points)
    checks = [f"{case.placement} {p.cache_bytes / predict_cache(p.images, case.contract(contract)).total_bytes:.3f}"
              for case in STUDY_CASES for p in points
              if p.case == case.id and p.images == largest and p.epoch == "cold" and p.cache_bytes]
    return f"cache bytes: file caches measured / predicted at {largest:,} images: {', '.join(checks) or '-'}"


def _write(out: Path, settings: StudySettings, rows, errors, points, head: list[str], reason: str,
           model_s: float | None, shares_cpu: bool) -> None:
    from pipelines.report.charts import bar_chart

    out.mkdir(parents=True, exist_ok=True)
    (out / "study.md").write_text("\n".join(["# The study's table, predicted for this machine", "",
                                             *(f"{line}  " for line in head), "",
                                             *table_lines(rows, errors, markdown=True, model_s=model_s,
                                                         shares_cpu=shares_cpu), "",
                                             f"**Recommended**: {reason}.", ""]))
    chart_rows = [{"case": r.label, "first": (r.first_s / 60, 0.0),
                   "later": (r.later_s / 60 if r.later_s else None, 0.0)} for r in rows]
    bar_chart(chart_rows, ("first", "later"), ("epoch 1", "later epochs"), "minutes per epoch (predicted)",
              f"{settings.preset}, {settings.full_size:,} images", out / "study.png")
    (out / "study.json").write_text(json.dumps({
        "settings": {k: str(v) if isinstance(v, Path) else v for k, v in asdict(settings).items()
                     if k != "contract"},
        "points": [asdict(p) for p in points],
        "held_out_errors": {f"{case}-{epoch}": e for (case, epoch), e in errors.items()},
        "recommendation": reason,
    }, indent=2, default=str) + "\n")


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        preset, points = load_points(args.points) if args.points else (None, None)
        print(run(settings_from_args(args, preset), args.out, points))
    except (ValueError, DatasetError) as error:
        print(f"study: {error}", file=sys.stderr)
        return 2
    print(f"\nwritten: {args.out / 'study.md'}, {args.out / 'study.png'}, {args.out / 'study.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
