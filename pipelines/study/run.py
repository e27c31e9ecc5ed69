"""A study run: its measurements (taken now, or a previous run's for ``--points``), the laws fitted to them, the
table predicted at full size, the recommendation, and that recommendation checked at the held-out size.

:func:`run_study` returns a :class:`StudyResult`; :func:`report_text` is what the command prints and
:func:`pipelines.study.output.write_study` what it writes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from pipelines.datasets.presets import PRESETS
from pipelines.loaders.contract import Contract
from pipelines.machine import machine_info
from pipelines.memory.predict import WORKING_SET_BYTES, free_disk, predict_cache
from pipelines.study.check import check_recommendation
from pipelines.study.in_line import off_line_line
from pipelines.study.measuring import Measured, measure, model_rate, saved_model_rate
from pipelines.study.recommend import recommend
from pipelines.study.bands import error_bands, errors_of, fill_bands, kernel_bands, round_bands
from pipelines.study.bounds import CACHED_REQUEST_RATIO, served_from_a_cache, reread_share
from pipelines.study.predictor import Predictor
from pipelines.study.result import StudyResult
from pipelines.study.scaling import STUDY_CASES, Point
from pipelines.study.settings import StudySettings
from pipelines.study.storage_lines import storage_lines
from pipelines.study.table import error_pair, held_out_errors, levels_lines, page_cache_room, table_lines
from pipelines.training import ModelSpec, model_name
from pipelines.units import format_bytes


def run_study(settings: StudySettings, measured: Measured | None = None) -> StudyResult:
    """The study: measure (unless ``measured`` is given: then nothing is measured, the model's rate included),
    fit, predict, recommend, check."""
    measured, rate = gather(settings, measured)
    return predict(settings, measured, rate)


def gather(settings: StudySettings, measured: Measured | None) -> tuple[Measured, float | None]:
    """The measurements and the model's images/s alone: ``measured`` and the rate it recorded, or both measured
    now (a MobileNet rate kept in them, for a later ``--points``)."""
    if measured is not None:
        rate = saved_model_rate(settings, measured)
        held = {p.images for p in measured.points if p.cores is None}
        if settings.held_out and settings.held_out not in held:
            raise ValueError(f"--held-out {settings.held_out:,}: --points {measured.source} measured no such size "
                             f"(it holds {', '.join(f'{n:,}' for n in sorted(held))}): give one of them, or leave "
                             "--held-out out")
        return measured, rate
    classes = PRESETS[settings.preset].classes
    measured = measure(settings)
    rate = model_rate(settings, classes)
    if rate and not settings.accelerator:  # MobileNet alone, measured: kept for a later --points
        measured = replace(measured, model=model_name(ModelSpec(classes)), model_images_per_sec=rate)
    return measured, rate


def predict(settings: StudySettings, measured: Measured, rate: float | None) -> StudyResult:
    """The table at full size, the recommendation and its check, from ``measured`` and the model's ``rate``."""
    measured = replace(measured, device=measured.device or str(machine_info()["device"]))
    points = measured.points
    datasets = {p.images: p.dataset_bytes for p in points if p.cores is None}
    name = model_name(ModelSpec(PRESETS[settings.preset].classes, accelerator=settings.accelerator))
    timed_model = name if settings.model and any(p.model == name for p in points) else None  # its epochs measured
    trained = None if settings.training == "composed" else timed_model  # else composed: loader's + model's
    predictor = Predictor(settings, points, trained, sum(datasets.values()) / sum(datasets),
                          measured.free_disk_bytes or free_disk(settings.contract.cache_dir), measured.bandwidths,
                          measured.resident_bytes, measured.memory_fills)
    errors = errors_of(predictor)
    shares_cpu = measured.device.startswith("CPU") and not settings.accelerator
    rows = predictor.rows(settings.full_size)
    advice = recommend(rows, settings.full_size, rate, settings.ram_budget, cpu_only=shares_cpu)
    check = None
    if settings.held_out and (timed_model or not rate):  # measured epochs to check against: training, or loaders'
        at_held_out = predictor.rows(settings.held_out)
        chosen = recommend(at_held_out, settings.held_out, rate, settings.ram_budget, cpu_only=shares_cpu).row
        check = check_recommendation(at_held_out, chosen, points, settings.held_out, timed_model)
    level_images = next((p.images for p in points if p.cores is not None), settings.levels_images)
    reads = {(case, kind): predictor.traffic(settings.held_out, case, kind)[1:] for case, kind in errors}
    return StudyResult(
        settings, measured, rows, errors,
        head_lines(settings, measured, rate, predictor), advice.reason,
        settings.full_size / rate if rate else None, shares_cpu,
        levels_lines(points, measured.stages, level_images, STUDY_CASES, measured.cores), check,
        "training epochs" if timed_model else "loader epochs", reads,
        {"each JPEG read rate probed": error_bands(predictor, errors),
         "each fill's cost probed": fill_bands(predictor, errors), "each round": round_bands(predictor, errors),
         "each round's own kernel time": kernel_bands(predictor, errors, measured.cores)})


def head_lines(settings: StudySettings, measured: Measured, rate: float | None, predictor: Predictor) -> list[str]:
    """The lines above the table: what was predicted, from what, and the predictors' own checks."""
    full = settings.full_size
    fitted = sorted({p.images for p in measured.points if p.cores is None} - {settings.held_out})
    head = [f"{settings.preset} at full size: {full:,} images, ~{format_bytes(predictor.per_image_bytes * full)} of "
            f"JPEGs; RAM budget {format_bytes(settings.ram_budget)}; free disk for file caches "
            f"{format_bytes(predictor.disk)} "
            + ("before the epochs" if measured.free_disk_bytes else "now (not recorded with the points)")
            + f"; {model_line(settings, rate, measured)}",
            f"measured on {measured.device}{limits_phrase(measured)} at {', '.join(f'{n:,}' for n in fitted)} "
            "images (fitted: seconds = "
            "fixed + per image x images)"
            + (f", checked on {settings.held_out:,} held out (error: predicted/measured - 1, first / later)"
               if settings.held_out else ""),
            cache_bytes_check(measured.points, settings.contract)]
    off = off_line_line(measured.points, fitted, measured.measured_twice)
    if off:
        head.append(off)
    if measured.bandwidths:
        cached = served_from_a_cache(measured.bandwidths)
        head.append("storage rates, bounding epochs that move bytes (the slower of CPU law and bytes / rate): "
                    + "; ".join(b.line() + (" -- served from a cache below this machine, its requests under "
                                            f"1/{CACHED_REQUEST_RATIO:g} of the other probe's: left out"
                                            if b in cached else "") for b in measured.bandwidths))
    if measured.memory_fills:
        head.append("memory caches' fills, a fresh byte's cost added to a memory cache's first epoch: "
                    + "; ".join(f.line() for f in measured.memory_fills))
    jpeg_bytes = predictor.per_image_bytes * full
    room = page_cache_room(settings.ram_budget, predictor.resident_bytes)
    if jpeg_bytes > room:
        head.append(f"page cache for the JPEGs: {format_bytes(settings.ram_budget)} of RAM less the pipeline's "
                    f"working set ({format_bytes(WORKING_SET_BYTES)}) and this process "
                    f"({format_bytes(predictor.resident_bytes) if predictor.resident_bytes else 'not recorded'}) "
                    f"= {format_bytes(room)} for {format_bytes(jpeg_bytes)}: an uncached later epoch, in a new "
                    f"order, reads {reread_share(room, jpeg_bytes):.0%} of them from storage again (least "
                    "recently used evicted first)")
    training_errors = (held_out_errors(measured.points, settings.held_out, predictor.trained,
                                       predictor.io(settings.held_out), predictor.later_kind(settings.held_out),
                                       predictor.fill(settings.held_out))
                       if predictor.trained and settings.held_out else {})
    if training_errors:
        head.append("held-out error of the measured training epochs (first / later): " + ", ".join(
            f"{case.id} {error_pair(training_errors, case.id)}" for case in STUDY_CASES))
    return head


def limits_phrase(measured: Measured) -> str:
    """`` with RAM limited to 4.0 GB ...``: the smaller machine the points were measured as, if any."""
    from pipelines.limits.session import LimitSettings

    return f" with {LimitSettings(**measured.limits).line()}" if measured.limits else ""


def model_line(settings: StudySettings, rate: float | None, measured: Measured) -> str:
    """The model the training columns are for."""
    if settings.accelerator:
        return f"emulated accelerator {settings.accelerator:g} img/s"
    if rate:
        return f"MobileNet alone {rate:.0f} img/s" + (" (as --points recorded it)" if measured.source else "")
    return "no model"


def cache_bytes_check(points: Sequence[Point], contract: Contract) -> str:
    """The predictor behind the cache column, against the file caches measured at the largest size."""
    largest = max(p.images for p in points)
    checks = [f"{case.placement} {p.cache_bytes / predict_cache(p.images, case.contract(contract)).total_bytes:.3f}"
              for case in STUDY_CASES for p in points if p.cores is None and p.model is None
              if p.case == case.id and p.images == largest and p.epoch == "cold" and p.cache_bytes]
    return f"cache bytes: file caches measured / predicted at {largest:,} images: {', '.join(checks) or '-'}"


def report_text(result: StudyResult) -> str:
    """What the command prints: the head, the table, the recommendation, its check, the storage during the
    held-out epochs and the levels."""
    checked = [result.check.line(result.checked_epochs)] if result.check else []
    checked += [u.line() for u in result.measured.unmeasured] + storage_lines(result)
    return "\n".join([*result.head, "",
                      *table_lines(result.rows, result.errors, model_s=result.model_s, shares_cpu=result.shares_cpu),
                      "", f"Recommended: {result.recommendation}.", *checked,
                      *([""] + result.levels if result.levels else [])])
