"""The study's table at full scale: each row's first and later epochs predicted from the measured laws.

Rules that decide which law describes a full-size epoch (the line itself is never bent):

* first epoch: the cold law (files read from storage, any cache filled).
* later epochs without a cache: the warm law while the dataset's JPEGs fit in the RAM budget (they stay in the
  page cache), else the cold law -- every epoch then reads from storage, as the study's 18 GB of JPEGs on a
  16 GB machine did.
* memory cache: the warm law if the cache fits the RAM budget (:func:`pipelines.memory.exceeds_budget`, the
  same check that skips a benchmark case), else "does not fit" with both sizes: the study's crash, predicted.
* file cache: the warm law (warm file-cache epochs are read from disk after eviction, as at full size), unless
  the predicted cache exceeds the free disk.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from pipelines.cases import Case
from pipelines.config import CACHE_SPECS, Contract
from pipelines.loaders.pipeline import BASELINE_LOADER, LOADER_SPECS, base_loader
from pipelines.memory.predict import WORKING_SET_BYTES, exceeds_budget, exceeds_disk, predict_cache
from pipelines.study.extrapolate import Law, fit_law, held_out_error
from pipelines.study.scaling import Point
from pipelines.units import format_bytes


@dataclass(frozen=True)
class StudyRow:
    """One row of the study's table, at full size.

    Attributes:
        case: what was measured.
        label: the row's name for people (``tf.data + file cache (uint8)``).
        first_s: the first epoch's predicted seconds.
        later_s: a later epoch's predicted seconds; ``None`` when the cache does not fit.
        cache_bytes: the cache's predicted bytes (0 without a cache).
        fits: the row can run with this RAM budget and free disk.
        note: why it does not fit, or which law a later epoch follows when it is not the warm one.
        cold, warm: the fitted laws.
    """

    case: Case
    label: str
    first_s: float
    later_s: float | None
    cache_bytes: int
    fits: bool
    note: str
    cold: Law
    warm: Law


def series(points: Sequence[Point]) -> dict[tuple[str, str], list[tuple[int, float]]]:
    """Every ``(images, seconds)`` epoch measured, by (case id, epoch kind)."""
    grouped: dict[tuple[str, str], list[tuple[int, float]]] = {}
    for p in points:
        grouped.setdefault((p.case, p.epoch), []).extend((p.images, s) for s in p.seconds)
    return grouped


def laws(points: Sequence[Point], exclude: int | None = None) -> dict[tuple[str, str], Law]:
    """The law of every (case id, epoch kind) measured, leaving out the size ``exclude`` (a held-out check)."""
    return {key: fit_law([(n, s) for n, s in values if n != exclude]) for key, values in series(points).items()}


def held_out_errors(points: Sequence[Point], held_out: int) -> dict[tuple[str, str], float]:
    """:func:`~pipelines.study.extrapolate.held_out_error` of every (case id, epoch kind) measured at ``held_out``."""
    return {key: held_out_error(values, held_out) for key, values in series(points).items()
            if any(n == held_out for n, _ in values)}


def row_label(case: Case) -> str:
    spec = LOADER_SPECS[case.loader]
    if not CACHE_SPECS[case.cache].caches:
        return spec.label if spec.placement else f"{spec.label}, no cache"
    return f"{spec.label} + {case.cache} cache ({case.placement})"


def study_rows(cases: Sequence[Case], fitted: Mapping[tuple[str, str], Law], images: int, jpeg_bytes: int,
               contract: Contract, ram_budget: int, free_disk: int) -> list[StudyRow]:
    """The table's rows for ``images`` images of ``jpeg_bytes`` in all (see the module docstring for the rules)."""
    rows = []
    for case in cases:
        cold, warm = fitted[(case.id, "cold")], fitted[(case.id, "warm")]
        spec = CACHE_SPECS[case.cache]
        later, note, cache_bytes, fits = warm.seconds(images), "", 0, True
        if not spec.caches:
            if jpeg_bytes + WORKING_SET_BYTES > ram_budget:
                later = cold.seconds(images)
                note = (f"later epochs read the JPEGs from storage: {format_bytes(jpeg_bytes)} do not stay in "
                        f"{format_bytes(ram_budget)} of page cache")
        else:
            prediction = predict_cache(images, case.contract(contract))
            cache_bytes = prediction.total_bytes
            if spec.in_ram and exceeds_budget(prediction, ram_budget):
                later, fits = None, False
                note = f"does not fit: {format_bytes(cache_bytes)} > {format_bytes(ram_budget)} of RAM"
            elif spec.on_disk and exceeds_disk(prediction, free_disk):
                later, fits = None, False
                note = f"does not fit: {format_bytes(cache_bytes)} > {format_bytes(free_disk)} of free disk"
        rows.append(StudyRow(case, row_label(case), cold.seconds(images), later, cache_bytes, fits, note, cold,
                             warm))
    return rows


def combined_s(loader_s: float | None, model_s: float | None, shares_cpu: bool) -> float | None:
    """A training epoch from the loader's epoch and the model's: their sum when the model runs on the loader's
    cores (both are CPU work on the same cores), else the longer of the two (prefetching overlaps them at best)."""
    if loader_s is None or not model_s:
        return loader_s
    return loader_s + model_s if shares_cpu else max(loader_s, model_s)


def format_seconds(seconds: float | None) -> str:
    """``58.0 min`` for an epoch the size of the study's, ``12.3 s`` below two minutes."""
    if seconds is None:
        return "-"
    return f"{seconds / 60:.1f} min" if seconds >= 120 else f"{seconds:.1f} s"


def speedup(baseline: float | None, seconds: float | None) -> str:
    return f"{baseline / seconds:.1f}x" if baseline and seconds else "-"


def table_lines(rows: Sequence[StudyRow], errors: Mapping[tuple[str, str], float] | None = None,
                markdown: bool = False, model_s: float | None = None, shares_cpu: bool = False) -> list[str]:
    """The table as text (aligned columns) or Markdown; ``errors``: held-out errors by (case id, epoch);
    ``model_s``: the model's own epoch, for the training columns (:func:`combined_s` of it and the loader's,
    ``shares_cpu`` saying how)."""
    baseline = next((r for r in rows if base_loader(r.case.loader) == BASELINE_LOADER), None)
    header = ["pipeline", "epoch 1", "later epochs", "vs idg (1st / later)", "cache", "held-out error", "note"]
    if model_s:
        header[3:3] = ["training 1st / later"]
    body = []
    for r in rows:
        error = "-"
        if errors:
            found = [errors[(r.case.id, e)] for e in ("cold", "warm") if (r.case.id, e) in errors]
            error = " / ".join(f"{100 * e:+.0f}%" for e in found) if found else "-"
        body.append([r.label, format_seconds(r.first_s), format_seconds(r.later_s),
                     f"{speedup(baseline and baseline.first_s, r.first_s)} / "
                     f"{speedup(baseline and baseline.later_s, r.later_s)}",
                     format_bytes(r.cache_bytes) if r.cache_bytes else "-", error, r.note])
        if model_s:
            body[-1][3:3] = [f"{format_seconds(combined_s(r.first_s, model_s, shares_cpu))} / "
                             f"{format_seconds(combined_s(r.later_s, model_s, shares_cpu))}"]
    if markdown:
        return ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)] + [
            "| " + " | ".join(cells) + " |" for cells in body]
    widths = [max(len(row[i]) for row in [header, *body]) for i in range(len(header) - 1)]
    return ["  ".join(cell.ljust(w) for cell, w in zip(cells, widths)) + "  " + cells[-1]
            for cells in [header, *body]]
