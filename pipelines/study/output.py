"""What a study run leaves behind: ``study.md`` (the table as markdown), ``study.png`` (its epochs as bars) and
``study.json`` (the settings, every measured point, the stage costs, the model's rate alone, the device, the
held-out errors, the recommendation and its check) -- and the reader of that ``study.json`` for ``--points``,
beside its writer, so the two keep one format."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

from pipelines.caches.bandwidth import Bandwidth
from pipelines.machine import available_cores
from pipelines.study.measuring import Measured, Unmeasured
from pipelines.study.result import StudyResult
from pipelines.study.storage_lines import storage_lines
from pipelines.study.scaling import Point
from pipelines.study.stages import StageCost
from pipelines.study.table import table_lines

#: The files a study writes to its ``--out`` folder.
STUDY_FILES = ("study.md", "study.png", "study.json")


def write_study(out: Path, result: StudyResult) -> None:
    """Write :data:`STUDY_FILES` for ``result`` to ``out`` (made if missing)."""
    out.mkdir(parents=True, exist_ok=True)
    (out / "study.md").write_text(study_markdown(result))
    write_chart(out / "study.png", result)
    (out / "study.json").write_text(json.dumps(study_record(result), indent=2, default=str) + "\n")


def study_markdown(result: StudyResult) -> str:
    """``study.md``: the printed report as markdown."""
    storage = storage_lines(result)
    return "\n".join(["# The study's table, predicted for this machine", "",
                      *(f"{line}  " for line in result.head), "",
                      *table_lines(result.rows, result.errors, markdown=True, model_s=result.model_s,
                                   shares_cpu=result.shares_cpu), "",
                      f"**Recommended**: {result.recommendation}.", "",
                      *([result.check.line("measured epochs"), ""] if result.check else []),
                      *(f"{u.line()}  " for u in result.measured.unmeasured),
                      *([""] if result.measured.unmeasured else []),
                      *(["```", *storage, "```", ""] if storage else []),
                      *(["```", *result.levels, "```", ""] if result.levels else [])])


def write_chart(path: Path, result: StudyResult) -> None:
    """``study.png``: each row's first and later epochs at full size, in minutes, as the study's chart shows them;
    error bars: each law's held-out error (``|predicted / measured - 1|``; none for a row not measured there, or
    without ``--held-out``); a row that does not fit says so where its later bar would be."""
    from pipelines.report.charts import bar_chart

    def band(row, kind: str) -> float | None:
        error = result.errors.get((row.case.id, kind))
        return None if error is None else abs(error)

    chart_rows = [{"case": r.label, "first": (r.first_s / 60, band(r, "cold")),
                   "later": (r.later_s / 60 if r.later_s else None, band(r, r.later_kind)),
                   "marks": {"later": r.note} if not r.fits else {}} for r in result.rows]
    errors = f" (error bars: the error at {result.settings.held_out:,} held out)" if result.errors else ""
    bar_chart(chart_rows, ("first", "later"), ("epoch 1", "later epochs"), "minutes per epoch (predicted)",
              f"{result.settings.preset}, {result.settings.full_size:,} images{errors}", path)


def study_record(result: StudyResult) -> dict:
    """``study.json``'s content (the settings less the contract, paths as text)."""
    measured, check = result.measured, result.check
    return {
        "settings": {k: str(v) if isinstance(v, Path) else v for k, v in asdict(result.settings).items()
                     if k not in ("contract", "limits")},
        "limits": measured.limits,
        "unmeasured": [asdict(u) for u in measured.unmeasured],
        "bandwidths": [asdict(b) for b in measured.bandwidths],
        "resident_bytes": measured.resident_bytes,
        "free_disk_bytes": measured.free_disk_bytes,
        "memory_fills": [asdict(f) for f in measured.memory_fills],
        "measured_twice": measured.measured_twice,
        "points": [asdict(p) for p in measured.points],
        "stages": [asdict(s) for s in measured.stages],
        "cores": measured.cores,
        "device": measured.device,
        "model_alone": ({"model": measured.model, "images_per_sec": measured.model_images_per_sec}
                        if measured.model_images_per_sec else None),
        "held_out_errors": {f"{case}-{epoch}": e for (case, epoch), e in result.errors.items()},
        "recommendation": result.recommendation,
        "check": asdict(check) if check else None,
    }


def load_points(path: Path) -> tuple[str, Measured]:
    """The preset and measurements a previous study saved (``study.json``), to predict again without measuring."""
    try:
        saved = json.loads(Path(path).read_text())
        alone = saved.get("model_alone") or {}
        return saved["settings"]["preset"], Measured(
            [Point(**{**p, "seconds": tuple(p["seconds"])}) for p in saved["points"]],
            [StageCost(s["stage"], tuple(s["seconds"])) for s in saved.get("stages", [])],
            saved.get("cores", available_cores()), alone.get("model"), alone.get("images_per_sec"),
            saved.get("device"), Path(path),
            [Unmeasured(**u) for u in saved.get("unmeasured", [])], saved.get("limits"),
            [Bandwidth(**b) for b in saved.get("bandwidths", [])], saved.get("resident_bytes", 0),
            saved.get("free_disk_bytes", 0), saved.get("memory_fills", []), saved.get("measured_twice", []))
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise ValueError(f"--points {path}: not a study.json written by this command ({error})") from None
