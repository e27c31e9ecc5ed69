"""What a study prints and leaves behind -- ``study.md`` (the report), ``study.png`` (the table as bars, intervals
as error bars), ``study.json`` (every measured point, the table, the held-out epochs and their coverage) -- and
the reader of that ``study.json`` for ``--points``, beside its writer."""

from __future__ import annotations

import json
import math
from dataclasses import asdict
from pathlib import Path

from pipelines.caches.bandwidth import Bandwidth
from pipelines.limits.session import LimitSettings
from pipelines.machine import available_cores
from pipelines.study.held_out import COUNTED_S, coverage
from pipelines.study.checkpoint import Point
from pipelines.study.measure import Measured, Unmeasured
from pipelines.study.run import StudyResult
from pipelines.study.settings import STUDY_CASES
from pipelines.study.table import Predictor, aligned, row_label, table_lines
from pipelines.units import format_bytes

#: The files a study writes to its ``--out`` folder.
STUDY_FILES = ("study.md", "study.png", "study.json")


def head_lines(result: StudyResult) -> list[str]:
    """The lines above the table: what was predicted, from what."""
    settings, measured = result.settings, result.measured
    predictor = Predictor(settings, measured)
    jpeg_bytes = predictor.per_image_bytes * settings.full_size
    fitted = sorted({p.images for p in measured.points if p.cores is None} - {settings.held_out})
    model = (f"emulated accelerator {settings.accelerator:g} img/s" if settings.accelerator else
             f"MobileNet alone {settings.full_size / result.model_s:.0f} img/s" if result.model_s else "no model")
    limits = f" with {LimitSettings(**measured.limits).line()}" if measured.limits else ""
    head = [f"{settings.preset} at full size: {settings.full_size:,} images, ~{format_bytes(jpeg_bytes)} of JPEGs; "
            f"RAM budget {format_bytes(settings.ram_budget)}; free disk for file caches "
            f"{format_bytes(predictor.disk)}; {model}",
            f"measured on {measured.device}{limits} at {', '.join(f'{n:,}' for n in fitted)} images"
            + (f" ({settings.held_out:,} held out)" if settings.held_out else "")
            + "; each epoch: a line through those sizes, bounded by the storage's rates; (low-high): its interval"]
    if measured.bandwidths:
        head.append("storage: " + "; ".join(b.line() for b in measured.bandwidths))
    if jpeg_bytes > predictor.room:
        head.append(f"page cache for the JPEGs: {format_bytes(predictor.room)} of {format_bytes(jpeg_bytes)}")
    return head


def levels_lines(result: StudyResult) -> list[str]:
    """Each row's later-epoch images/s at the levels' size on each core count measured, and all cores' speed-up."""
    points = result.measured.points
    pinned = sorted({p.cores for p in points if p.cores is not None})
    if not pinned:
        return []
    images = next(p.images for p in points if p.cores is not None)
    levels = [*pinned, result.measured.cores]
    rate = {(p.case, p.cores or result.measured.cores): p.images / p.median_s for p in points
            if p.images == images and p.epoch == "warm" and p.model is None}
    header = ["pipeline", *(f"{k} core{'s' if k > 1 else ''}" for k in levels), f"{levels[-1]} vs 1"]
    body = [[row_label(c), *(f"{rate[(c.id, k)]:.0f}" if (c.id, k) in rate else "-" for k in levels),
             f"{rate[(c.id, levels[-1])] / rate[(c.id, levels[0])]:.1f}x"
             if (c.id, levels[-1]) in rate and (c.id, levels[0]) in rate else "-"] for c in STUDY_CASES]
    return [f"Parallelism: later epochs' images/s at {images:,} images on each core count", *aligned([header, *body])]


def held_out_lines(result: StudyResult) -> list[str]:
    found, images = coverage(result.held_out), result.settings.held_out
    return [found.line(images) if found else f"coverage at {images:,} images held out: no epoch of {COUNTED_S:g} s "
            "or more with an interval to count", *(e.line() for e in result.held_out)] if result.held_out else []


def report_text(result: StudyResult, markdown: bool = False) -> str:
    """What the command prints (``markdown``: what ``study.md`` holds)."""
    blocks = [[f"{line}  " if markdown else line for line in head_lines(result)], table_lines(result.rows, markdown),
              [u.line() for u in result.measured.unmeasured],
              [f"{'**Recommended**' if markdown else 'Recommended'}: {result.recommendation.reason}."]]
    blocks += [["```", *b, "```"] if markdown else b for b in (held_out_lines(result), levels_lines(result)) if b]
    return "\n\n".join("\n".join(b) for b in blocks if b)


def write_study(out: Path, result: StudyResult) -> None:
    """Write :data:`STUDY_FILES` for ``result`` to ``out`` (made if missing)."""
    out.mkdir(parents=True, exist_ok=True)
    (out / "study.md").write_text("# The study's table, predicted for this machine\n\n"
                                  + report_text(result, markdown=True) + "\n")
    write_chart(out / "study.png", result)
    (out / "study.json").write_text(json.dumps(_finite(study_record(result)), indent=2, default=str) + "\n")


def write_chart(path: Path, result: StudyResult) -> None:
    """``study.png``: each row's first and later epochs at full size, in minutes, its interval as the error bar;
    a row that does not fit says so where its later bar would be."""
    from pipelines.report.charts import bar_chart

    def bar(estimate) -> tuple[float, float, float] | None:
        return None if estimate is None else (estimate.seconds / 60, estimate.low / 60, estimate.high / 60)

    rows = [{"case": r.label, "first": bar(r.first), "later": bar(r.later if r.fits else None),
             "marks": {"later": r.note} if not r.fits else {}} for r in result.rows]
    bar_chart(rows, ("first", "later"), ("epoch 1", "later epochs"), "minutes per epoch (predicted, interval)",
              f"{result.settings.preset}, {result.settings.full_size:,} images", path)


def study_record(result: StudyResult) -> dict:
    """``study.json``'s content."""
    measured, found = result.measured, coverage(result.held_out)
    return {
        "settings": {k: str(v) if isinstance(v, Path) else v for k, v in asdict(result.settings).items()
                     if k not in ("contract", "limits")},
        "limits": measured.limits, "device": measured.device, "cores": measured.cores,
        "model_alone": ({"model": measured.model, "images_per_sec": measured.model_images_per_sec}
                        if measured.model_images_per_sec else None),
        "unmeasured": [asdict(u) for u in measured.unmeasured],
        "bandwidths": [asdict(b) for b in measured.bandwidths],
        "resident_bytes": measured.resident_bytes, "free_disk_bytes": measured.free_disk_bytes,
        "points": [asdict(p) for p in measured.points],
        "table": [{**asdict(r), "case": r.case.id} for r in result.rows],
        "recommendation": {"case": result.recommendation.row.case.id, "reason": result.recommendation.reason},
        "held_out": [asdict(e) for e in result.held_out], "coverage": asdict(found) if found else None,
    }


def _finite(value):
    """``value`` with every infinite number (an interval without an upper end) as ``null``: JSON has none."""
    if isinstance(value, (dict, list)):
        return {k: _finite(v) for k, v in value.items()} if isinstance(value, dict) else [_finite(v) for v in value]
    return None if isinstance(value, float) and math.isinf(value) else value


def load_points(path: Path) -> tuple[str, Measured]:
    """The preset and measurements a previous study saved (``study.json``), to predict again measuring nothing."""
    try:
        saved = json.loads(Path(path).read_text())
        alone = saved.get("model_alone") or {}
        known = set(Bandwidth.__dataclass_fields__)
        return saved["settings"]["preset"], Measured(
            [Point.read(p) for p in saved["points"]], saved.get("cores", available_cores()), alone.get("model"),
            alone.get("images_per_sec"), saved.get("device"), Path(path),
            [Unmeasured(**u) for u in saved.get("unmeasured", [])], saved.get("limits"),
            [Bandwidth(**{k: v for k, v in b.items() if k in known}) for b in saved.get("bandwidths", [])],
            saved.get("resident_bytes", 0), saved.get("free_disk_bytes", 0))
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise ValueError(f"--points {path}: not a study.json written by this command ({error})") from None
