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
from dataclasses import asdict, dataclass, replace
from pathlib import Path

from tqdm import tqdm

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # before TensorFlow is imported: its chatter hides the table

from pipelines.config import PRESETS, Contract, RoundPlan, StudySettings, available_cores  # noqa: E402
from pipelines.datasets import DatasetError, prepare_dataset  # noqa: E402
from pipelines.machine import machine_info  # noqa: E402
from pipelines.memory.predict import free_disk, predict_cache  # noqa: E402
from pipelines.harness import EPOCH_KINDS  # noqa: E402
from pipelines.study.check import Check, check_recommendation  # noqa: E402
from pipelines.study.cores import StageCost, fewer_cores, measure_levels  # noqa: E402
from pipelines.study.recommend import recommend  # noqa: E402
from pipelines.study.scaling import STUDY_CASES, Point, measure_sizes  # noqa: E402
from pipelines.study.table import (  # noqa: E402
    StudyRow, error_pair, held_out_errors, laws, levels_lines, study_rows, table_lines, with_training)
from pipelines.training import ModelSpec, model_name  # noqa: E402
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
    parser.add_argument("--training", choices=("measured", "composed"),
                        help="training columns from model.fit epochs timed at every size (default with "
                             "--accelerator), or composed from loader and model epochs (default for the real model)")
    parser.add_argument("--rounds", type=int, default=StudySettings.rounds, help="timed epochs per point (3)")
    parser.add_argument("--no-levels", action="store_true",
                        help="skip the parallelism levels (every row on 1, 2, 4, ... cores) and the stage costs")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--data-root", type=Path)
    parser.add_argument("--cache-dir", type=Path, help="where file caches are written (the disk you train from)")
    parser.add_argument("--points", type=Path,
                        help="predict again from a previous run's study.json, measuring nothing: its points, its "
                             "MobileNet rate and its device (for another --ram-budget, --accelerator, --full-images, "
                             "--held-out among its sizes; the measuring options are refused with it)")
    parser.add_argument("--out", type=Path, default=Path("reports/study"))
    return parser


#: Options that only say how to measure: ``--points`` measures nothing, so each would do nothing with it.
MEASURING_OPTIONS = (("--sizes", "sizes"), ("--rounds", "rounds"), ("--seed", "seed"), ("--data-root", "data_root"),
                     ("--no-levels", "no_levels"))


def settings_from_args(args: argparse.Namespace, measured_preset: str | None = None) -> StudySettings:
    """The settings; ``measured_preset``: the shape ``--points`` were measured on (a different --preset is refused:
    its full size would be predicted from another shape's epochs; so is an option that only says how to measure)."""
    if measured_preset and args.preset not in (None, measured_preset):
        raise ValueError(f"--points were measured on {measured_preset}, not --preset {args.preset}")
    if args.points:
        defaults = build_parser().parse_args([])
        given = [option for option, name in MEASURING_OPTIONS if getattr(args, name) != getattr(defaults, name)]
        if given:
            raise ValueError(f"--points measures nothing, so {', '.join(given)} would do nothing with it: leave "
                             f"{'it' if len(given) == 1 else 'them'} out")
    try:
        sizes = tuple(int(s) for s in args.sizes.split(","))
    except ValueError:
        raise ValueError(f"--sizes: comma-separated image counts, got {args.sizes!r}") from None
    return StudySettings(preset=args.preset or measured_preset or StudySettings.preset, sizes=sizes,
                         held_out=args.held_out, full_images=args.full_images,
                         ram_budget=parse_bytes(args.ram_budget), accelerator=args.accelerator,
                         model=not args.no_model, training=args.training, rounds=args.rounds,
                         levels=not args.no_levels, seed=args.seed,
                         data_root=args.data_root,
                         contract=Contract(cache_dir=args.cache_dir))


def study_model(settings: StudySettings, classes: int):
    """The model of the training columns: the emulated accelerator or MobileNet (random weights)."""
    from pipelines.training import build_model

    return build_model(ModelSpec(classes, accelerator=settings.accelerator), settings.contract)


def model_rate(settings: StudySettings, classes: int) -> float | None:
    """Images/s of the model alone: the emulated accelerator's, or MobileNet's measured on in-memory tensors."""
    if not settings.model:
        return None
    if settings.accelerator:
        return settings.accelerator
    from pipelines.harness import OffRecordBenchmark, time_rounds
    from pipelines.training import ModelOnly

    images = 4 * settings.contract.batch_size
    alone = ModelOnly(study_model(settings, classes), settings.contract, images, classes)
    timed = time_rounds(OffRecordBenchmark(), alone.epoch, RoundPlan(rounds=settings.rounds, min_round_s=0.0))
    return timed.images_per_sec()


def saved_model_rate(settings: StudySettings, measured: Measured) -> float | None:
    """Images/s of the model alone for ``--points``, measuring nothing: the emulated accelerator's, or the
    MobileNet rate the points' study measured; a :class:`ValueError` saying what to do when it measured none."""
    if not settings.model:
        return None
    if settings.accelerator:
        return settings.accelerator
    name = model_name(ModelSpec(PRESETS[settings.preset].classes))
    if measured.model == name and measured.model_images_per_sec:
        return measured.model_images_per_sec
    raise ValueError(f"--points {measured.source}: no {name} rate recorded (its study ran with --no-model or "
                     "--accelerator, or is older), and --points measures nothing: add --no-model (loader epochs "
                     "only) or --accelerator N, or run the study again without --points")


@dataclass(frozen=True)
class Measured:
    """What a study measured: points (:class:`Point`), the stage costs (:class:`StageCost`, may be empty), the
    cores "all cores" meant on the machine that measured them, and, when it measured the real model alone, its
    name and images/s; ``device``: that machine's device; ``source``: the ``study.json`` read, if any."""

    points: list[Point]
    stages: list[StageCost]
    cores: int
    model: str | None = None
    model_images_per_sec: float | None = None
    device: str | None = None
    source: Path | None = None


def measure(settings: StudySettings) -> Measured:
    """Every study row's cold and warm epochs at every size (and the held-out one), then on fewer cores and the
    stage costs (unless ``settings.levels`` is off), with a progress bar."""
    sizes = sorted(settings.sizes) + ([settings.held_out] if settings.held_out else [])
    indexes = [prepare_dataset(None, settings.preset, n, settings.seed, settings.data_root) for n in sizes]
    levels = len(fewer_cores()) if settings.levels else 0
    per_size = len(STUDY_CASES) * len(EPOCH_KINDS)
    passes = len(indexes) * (2 if settings.measures_training else 1) + levels
    with tqdm(total=passes * per_size, desc="study", unit="point", file=sys.stderr) as bar:
        def measured(step: str, points: int = 1) -> None:
            bar.set_postfix_str(step)
            bar.update(points)

        points = measure_sizes(indexes, settings.contract, settings.rounds, progress=measured)
        if settings.measures_training:
            model = study_model(settings, PRESETS[settings.preset].classes)
            points += measure_sizes(indexes, settings.contract, settings.rounds, progress=measured, model=model)
        if not settings.levels:
            return Measured(points, [], available_cores())
        bar.set_postfix_str(f"fewer cores, {settings.levels_images:,} images")
        fewer = measure_levels(settings.preset, settings.levels_images, settings.seed, settings.data_root,
                               settings.contract, settings.rounds, progress=measured)
        return Measured(points + list(fewer.points), list(fewer.stages), available_cores())


def load_points(path: Path) -> tuple[str, Measured]:
    """The preset and measurements a previous study saved (``study.json``), to predict again without measuring."""
    try:
        saved = json.loads(Path(path).read_text())
        alone = saved.get("model_alone") or {}
        return saved["settings"]["preset"], Measured(
            [Point(**{**p, "seconds": tuple(p["seconds"])}) for p in saved["points"]],
            [StageCost(s["stage"], tuple(s["seconds"])) for s in saved.get("stages", [])],
            saved.get("cores", available_cores()), alone.get("model"), alone.get("images_per_sec"),
            saved.get("device"), Path(path))
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise ValueError(f"--points {path}: not a study.json written by this command ({error})") from None


def run(settings: StudySettings, out: Path, measured: Measured | None = None) -> str:
    """The study: measure (unless ``measured`` is given: then nothing is measured, the model's rate included),
    fit, predict, recommend; returns the printed report and writes the files."""
    classes = PRESETS[settings.preset].classes
    if measured is not None:
        rate = saved_model_rate(settings, measured)
        held = {p.images for p in measured.points if p.cores is None}
        if settings.held_out and settings.held_out not in held:
            raise ValueError(f"--held-out {settings.held_out:,}: --points {measured.source} measured no such size "
                             f"(it holds {', '.join(f'{n:,}' for n in sorted(held))}): give one of them, or leave "
                             "--held-out out")
    else:
        measured = measure(settings)
        rate = model_rate(settings, classes)
        if rate and not settings.accelerator:  # MobileNet alone, measured: kept for a later --points
            measured = replace(measured, model=model_name(ModelSpec(classes)), model_images_per_sec=rate)
    device = measured.device or str(machine_info()["device"])
    measured = replace(measured, device=device)
    points = measured.points
    fitted = laws(points, exclude=settings.held_out)
    errors = held_out_errors(points, settings.held_out) if settings.held_out else {}
    datasets = {p.images: p.dataset_bytes for p in points if p.cores is None}
    per_image_bytes = sum(datasets.values()) / sum(datasets)
    full = settings.full_size
    disk = free_disk(settings.contract.cache_dir)
    name = model_name(ModelSpec(PRESETS[settings.preset].classes, accelerator=settings.accelerator))
    timed_model = name if settings.model and any(p.model == name for p in points) else None  # its epochs measured
    trained = None if settings.training == "composed" else timed_model  # else composed: loader's + model's

    def predict_at(images: int) -> list[StudyRow]:
        """The table's rows for ``images`` images, with the measured training epochs' laws where there are."""
        jpeg_bytes = int(per_image_bytes * images)
        rows = study_rows(STUDY_CASES, fitted, images, jpeg_bytes, settings.contract, settings.ram_budget, disk)
        if trained:
            rows = with_training(rows, study_rows(STUDY_CASES, laws(points, settings.held_out, trained), images,
                                                  jpeg_bytes, settings.contract, settings.ram_budget, disk))
        return rows

    rows = predict_at(full)
    training_errors = held_out_errors(points, settings.held_out, trained) if trained and settings.held_out else {}
    shares_cpu = device.startswith("CPU") and not settings.accelerator
    advice = recommend(rows, full, rate, settings.ram_budget, cpu_only=shares_cpu)
    check = None
    if settings.held_out and (timed_model or not rate):  # measured epochs to check against: training, or loaders'
        at_held_out = predict_at(settings.held_out)
        chosen = recommend(at_held_out, settings.held_out, rate, settings.ram_budget, cpu_only=shares_cpu).row
        check = check_recommendation(at_held_out, chosen, points, settings.held_out, timed_model)
    model = (f"emulated accelerator {settings.accelerator:g} img/s" if settings.accelerator
             else f"MobileNet alone {rate:.0f} img/s" + (" (as --points recorded it)" if measured.source else "")
             if rate else "no model")
    fitted_sizes = ", ".join(f"{n:,}" for n in sorted(set(datasets) - {settings.held_out}))
    head = [f"{settings.preset} at full size: {full:,} images, ~{format_bytes(per_image_bytes * full)} of JPEGs; "
            f"RAM budget {format_bytes(settings.ram_budget)}; {model}",
            f"measured on {device} at {fitted_sizes} images (fitted: seconds = fixed + per image x images)"
            + (f", checked on {settings.held_out:,} held out (error: predicted/measured - 1, first / later)"
               if settings.held_out else "")]
    model_s = full / rate if rate else None
    head.append(cache_bytes_check(points, settings.contract))
    level_images = next((p.images for p in points if p.cores is not None), settings.levels_images)
    cores = levels_lines(points, measured.stages, level_images, STUDY_CASES, measured.cores)
    if training_errors:
        head.append("held-out error of the measured training epochs (first / later): " + ", ".join(
            f"{case.id} {error_pair(training_errors, case.id)}" for case in STUDY_CASES))
    checked = [check.line("training epochs" if timed_model else "loader epochs")] if check else []
    text = "\n".join([*head, "", *table_lines(rows, errors, model_s=model_s, shares_cpu=shares_cpu), "",
                      f"Recommended: {advice.reason}.", *checked, *([""] + cores if cores else [])])
    _write(out, settings, rows, errors, measured, head, advice.reason, model_s, shares_cpu, cores, check)
    return text


def cache_bytes_check(points: list[Point], contract: Contract) -> str:
    """The predictor behind the cache column, against the file caches measured at the largest size."""
    largest = max(p.images for p in points)
    checks = [f"{case.placement} {p.cache_bytes / predict_cache(p.images, case.contract(contract)).total_bytes:.3f}"
              for case in STUDY_CASES for p in points if p.cores is None and p.model is None
              if p.case == case.id and p.images == largest and p.epoch == "cold" and p.cache_bytes]
    return f"cache bytes: file caches measured / predicted at {largest:,} images: {', '.join(checks) or '-'}"


def _write(out: Path, settings: StudySettings, rows, errors, measured: Measured, head: list[str], reason: str,
           model_s: float | None, shares_cpu: bool, cores: list[str], check: Check | None) -> None:
    from pipelines.report.charts import bar_chart

    out.mkdir(parents=True, exist_ok=True)
    (out / "study.md").write_text("\n".join(["# The study's table, predicted for this machine", "",
                                             *(f"{line}  " for line in head), "",
                                             *table_lines(rows, errors, markdown=True, model_s=model_s,
                                                         shares_cpu=shares_cpu), "",
                                             f"**Recommended**: {reason}.", "",
                                             *([check.line("measured epochs"), ""] if check else []),
                                             *(["```", *cores, "```", ""] if cores else [])]))
    chart_rows = [{"case": r.label, "first": (r.first_s / 60, 0.0),
                   "later": (r.later_s / 60 if r.later_s else None, 0.0)} for r in rows]
    bar_chart(chart_rows, ("first", "later"), ("epoch 1", "later epochs"), "minutes per epoch (predicted)",
              f"{settings.preset}, {settings.full_size:,} images", out / "study.png")
    (out / "study.json").write_text(json.dumps({
        "settings": {k: str(v) if isinstance(v, Path) else v for k, v in asdict(settings).items()
                     if k != "contract"},
        "points": [asdict(p) for p in measured.points],
        "stages": [asdict(s) for s in measured.stages],
        "cores": measured.cores,
        "device": measured.device,
        "model_alone": ({"model": measured.model, "images_per_sec": measured.model_images_per_sec}
                        if measured.model_images_per_sec else None),
        "held_out_errors": {f"{case}-{epoch}": e for (case, epoch), e in errors.items()},
        "recommendation": reason,
        "check": asdict(check) if check else None,
    }, indent=2, default=str) + "\n")


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        preset, measured = load_points(args.points) if args.points else (None, None)
        print(run(settings_from_args(args, preset), args.out, measured))
    except (ValueError, DatasetError) as error:
        print(f"study: {error}", file=sys.stderr)
        return 2
    print(f"\nwritten: {args.out / 'study.md'}, {args.out / 'study.png'}, {args.out / 'study.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
