"""The study's table at full scale: each row's first and later epochs predicted from the measured laws.

Rules that decide which law describes a full-size epoch (the line itself is never bent):

* first epoch: the cold law (files read from storage, any cache filled); a memory cache's with the kernel's
  time for its fresh pages added (:func:`~pipelines.study.bounds.fill_s`), which small fills do not show.
* later epochs without a cache: the warm law while the dataset's JPEGs fit in the RAM budget's page cache (they
  stay there), else the cold law -- every epoch then reads from storage, as the study's 18 GB of JPEGs on a
  16 GB machine did: the share of the JPEGs the page cache no longer holds when they are asked for
  (:func:`~pipelines.study.bounds.reread_share`).
* memory cache: the warm law if the cache fits the RAM budget (:func:`pipelines.memory.exceeds_budget`, the
  same check that skips a benchmark case), else "does not fit" with both sizes: the study's crash, predicted.
* file cache: the warm law (warm file-cache epochs are read from disk after eviction, as at full size), unless
  the predicted cache exceeds the free disk.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace

from pipelines.caches.bandwidth import Bandwidth
from pipelines.harness.cases import Case
from pipelines.caches.modes import CACHE_SPECS
from pipelines.loaders.contract import Contract
from pipelines.loaders.registry import BASELINE_LOADER, LOADER_SPECS, base_loader
from pipelines.memory.fill_rate import MemoryFill
from pipelines.memory.predict import WORKING_SET_BYTES, exceeds_budget, exceeds_disk, predict_cache, ram_needed
from pipelines.study.stages import ROW_STAGES, STAGE_SAMPLE, StageCost, predicted_rate
from pipelines.study.bounds import bounded, fill_s, io_seconds, read_bytes, read_rate, reread_share
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
        later_kind: the epoch kind whose law a later epoch follows: ``warm``, or ``cold`` where every epoch
            reads the JPEGs from storage.
        train_first_s, train_later_s: training epochs predicted from measured training epochs' laws by the
            same rules (:func:`with_training`); ``None`` when training is composed from the loader's epochs and
            the model's instead (:func:`combined_s`).
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
    later_kind: str = "warm"
    train_first_s: float | None = None
    train_later_s: float | None = None

    @property
    def trained(self) -> bool:
        """Whether the training columns come from measured training epochs."""
        return self.train_first_s is not None


def with_training(rows: Sequence[StudyRow], training: Sequence[StudyRow]) -> list[StudyRow]:
    """``rows`` with the training epochs of ``training`` (the same cases' rows from training laws)."""
    by_case = {t.case: t for t in training}
    return [replace(r, train_first_s=by_case[r.case].first_s, train_later_s=by_case[r.case].later_s)
            if r.case in by_case else r for r in rows]


def series(points: Sequence[Point], model: str | None = None) -> dict[tuple[str, str], list[tuple[int, float]]]:
    """Every ``(images, seconds)`` epoch measured on all cores, by (case id, epoch kind): the loaders' epochs
    alone, or with ``model`` the training epochs of that model."""
    grouped: dict[tuple[str, str], list[tuple[int, float]]] = {}
    for p in points:
        if p.cores is not None or p.model != model:
            continue
        grouped.setdefault((p.case, p.epoch), []).extend((p.images, s) for s in p.seconds)
    return grouped


def laws(points: Sequence[Point], exclude: int | None = None, model: str | None = None
         ) -> dict[tuple[str, str], Law]:
    """The law of every (case id, epoch kind) measured at two sizes at least (see :func:`series`), leaving out
    the size ``exclude`` (a held-out check); a row this machine could not hold at most sizes has none."""
    fitted = {key: [(n, s) for n, s in values if n != exclude] for key, values in series(points, model).items()}
    return {key: fit_law(values) for key, values in fitted.items() if len({n for n, _ in values}) >= 2}


def held_out_errors(points: Sequence[Point], held_out: int, model: str | None = None,
                    io: Callable[[str, str], float] = lambda case, kind: 0.0,
                    later_kind: Callable[[str], str] = lambda case: "warm",
                    fill: Callable[[str, str], float] = lambda case, kind: 0.0) -> dict[tuple[str, str], float]:
    """:func:`~pipelines.study.extrapolate.held_out_error` of every (case id, epoch kind) measured at ``held_out``
    (see :func:`series`), each bounded below by ``io(case id, kind)``, its storage traffic's seconds there, its
    law with ``fill(case id, kind)`` added: a memory cache's fresh pages
    (:func:`~pipelines.study.bounds.fill_s`).

    A later epoch is predicted as the table predicts it: by the law of ``later_kind(case id)`` -- the cold one
    where every epoch reads the JPEGs from storage (:func:`later_epochs_read_storage`) -- and its traffic
    (:func:`epoch_traffic`)."""
    grouped = series(points, model)
    errors = {}
    for (case, kind), values in grouped.items():
        if not any(n == held_out for n, _ in values) or len({n for n, _ in values} - {held_out}) < 2:
            continue
        law = later_kind(case) if kind == "warm" else kind
        fitted = [(n, s) for n, s in grouped.get((case, law), values) if n != held_out]
        errors[(case, kind)] = held_out_error(fitted + [(n, s) for n, s in values if n == held_out], held_out,
                                              io(case, kind), fill(case, kind))
    return errors


def page_cache_room(ram_budget: int, resident_bytes: int = 0) -> int:
    """Bytes of the RAM budget left to the page cache: the budget less the pipeline's working set and the
    process itself (``resident_bytes``, as the study measured it; 0 where not known)."""
    return max(ram_budget - WORKING_SET_BYTES - resident_bytes, 0)


def later_epochs_read_storage(case: Case, jpeg_bytes: float, ram_budget: int, resident_bytes: int = 0) -> bool:
    """Whether ``case``'s later epochs read the JPEGs from storage like its first: it caches nothing, and the
    JPEGs exceed the budget's page cache (:func:`page_cache_room`), so they do not all stay there."""
    return not CACHE_SPECS[case.cache].caches and jpeg_bytes > page_cache_room(ram_budget, resident_bytes)


def epoch_traffic(case: Case, kind: str, jpeg_bytes: float, cache_bytes: float, ram_budget: int,
                  resident_bytes: int, bandwidths: Sequence[Bandwidth]) -> tuple[float, float, float]:
    """``(seconds, bytes read, their read rate)`` of storage traffic of ``case``'s epoch of ``kind`` as the
    table predicts it (:func:`~pipelines.study.bounds.io_seconds`, :func:`~pipelines.study.bounds.read_bytes`,
    :func:`~pipelines.study.bounds.read_rate`: 0 where none was measured); a later epoch
    whose JPEGs do not stay in the page cache reads the share of them it misses
    (:func:`~pipelines.study.bounds.reread_share`), at the rate a first epoch reads them."""
    if kind == "warm" and later_epochs_read_storage(case, jpeg_bytes, ram_budget, resident_bytes):
        kind = "cold"
        jpeg_bytes *= reread_share(page_cache_room(ram_budget, resident_bytes), jpeg_bytes)
    reads = read_bytes(case, kind, jpeg_bytes, cache_bytes)
    rate = read_rate(kind, reads, bandwidths)
    return io_seconds(case, kind, jpeg_bytes, cache_bytes, bandwidths), reads, rate.read_bps if rate else 0.0


def row_label(case: Case) -> str:
    spec = LOADER_SPECS[case.loader]
    if not CACHE_SPECS[case.cache].caches:
        return spec.label if spec.placement else f"{spec.label}, no cache"
    return f"{spec.label} + {case.cache} cache ({case.placement})"


def study_rows(cases: Sequence[Case], fitted: Mapping[tuple[str, str], Law], images: int, jpeg_bytes: int,
               contract: Contract, ram_budget: int, free_disk: int,
               bandwidths: Sequence[Bandwidth] = (), resident_bytes: int = 0,
               memory_fills: Sequence[MemoryFill] = ()) -> list[StudyRow]:
    """The table's rows for ``images`` images of ``jpeg_bytes`` in all (see the module docstring for the rules),
    each epoch bounded below by its storage traffic at ``bandwidths`` (:func:`epoch_traffic`; the process's
    ``resident_bytes`` take their part of the budget from the page cache), a memory cache's first epoch with
    its fresh pages at the ``memory_fills``' cost added (:func:`~pipelines.study.bounds.fill_s`)."""
    rows = []
    for case in cases:
        if (case.id, "cold") not in fitted or (case.id, "warm") not in fitted:
            continue  # not measured at two sizes (it did not fit this machine): nothing to predict from
        cold, warm = fitted[(case.id, "cold")], fitted[(case.id, "warm")]
        spec = CACHE_SPECS[case.cache]
        prediction = predict_cache(images, case.contract(contract)) if spec.caches else None
        cache_bytes = prediction.total_bytes if prediction else 0

        def epoch_s(law: Law, kind: str) -> float:
            return bounded(law.seconds(images) + fill_s(case, kind, cache_bytes, memory_fills),
                           epoch_traffic(case, kind, jpeg_bytes, cache_bytes, ram_budget, resident_bytes,
                                         bandwidths)[0])

        later, note, fits, later_kind = epoch_s(warm, "warm"), "", True, "warm"
        if not spec.caches:
            if later_epochs_read_storage(case, jpeg_bytes, ram_budget, resident_bytes):
                later, later_kind = epoch_s(cold, "warm"), "cold"
                room = page_cache_room(ram_budget, resident_bytes)
                note = (f"later epochs read {reread_share(room, jpeg_bytes):.0%} of the JPEGs from storage again: "
                        f"{format_bytes(jpeg_bytes)} do not stay in {format_bytes(room)} of page cache")
        elif spec.in_ram and exceeds_budget(prediction, ram_budget):
            later, fits = None, False
            needed = format_bytes(cache_bytes)
            if cache_bytes <= ram_budget:  # what makes it not fit: the margin and the working set
                needed += f" + margin and working set = {format_bytes(ram_needed(prediction))}"
            note = f"does not fit: {needed} > {format_bytes(ram_budget)} of RAM"
        elif spec.on_disk and exceeds_disk(prediction, free_disk):
            later, fits = None, False
            note = f"does not fit: {format_bytes(cache_bytes)} > {format_bytes(free_disk)} of free disk"
        rows.append(StudyRow(case, row_label(case), epoch_s(cold, "cold"), later, cache_bytes, fits, note, cold,
                             warm, later_kind))
    return rows


def training_s(row: StudyRow, epoch: str, model_s: float | None, shares_cpu: bool) -> float | None:
    """A training epoch (``first`` or ``later``) with ``row``: measured-law prediction if the row has one, else
    :func:`combined_s` of its loader epoch and ``model_s``."""
    if row.trained:
        return row.train_first_s if epoch == "first" else row.train_later_s
    return combined_s(row.first_s if epoch == "first" else row.later_s, model_s, shares_cpu)


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


def error_pair(errors: Mapping[tuple[str, str], float], case_id: str) -> str:
    """``+1% / -3%``: a case's held-out errors, first epoch / later epochs (``-`` where none was measured)."""
    found = [errors[(case_id, e)] for e in ("cold", "warm") if (case_id, e) in errors]
    return " / ".join(f"{100 * e:+.0f}%" for e in found) if found else "-"


def table_lines(rows: Sequence[StudyRow], errors: Mapping[tuple[str, str], float] | None = None,
                markdown: bool = False, model_s: float | None = None, shares_cpu: bool = False) -> list[str]:
    """The table as text (aligned columns) or Markdown; ``errors``: held-out errors by (case id, epoch);
    ``model_s``: the model's own epoch, for the training columns (:func:`combined_s` of it and the loader's,
    ``shares_cpu`` saying how)."""
    baseline = next((r for r in rows if base_loader(r.case.loader) == BASELINE_LOADER), None)
    header = ["pipeline", "epoch 1", "later epochs", "vs idg (1st / later)", "cache", "held-out error", "note"]
    trained = any(r.trained for r in rows)
    if model_s or trained:
        header[3:3] = [f"training 1st / later ({'measured' if trained else 'loader + model'})"]
    body = []
    for r in rows:
        error = error_pair(errors or {}, r.case.id)
        body.append([r.label, format_seconds(r.first_s), format_seconds(r.later_s),
                     f"{speedup(baseline and baseline.first_s, r.first_s)} / "
                     f"{speedup(baseline and baseline.later_s, r.later_s)}",
                     format_bytes(r.cache_bytes) if r.cache_bytes else "-", error, r.note])
        if model_s or trained:
            body[-1][3:3] = [" / ".join(format_seconds(training_s(r, e, model_s, shares_cpu))
                                        for e in ("first", "later"))]
    if markdown:
        return ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)] + [
            "| " + " | ".join(cells) + " |" for cells in body]
    widths = [max(len(row[i]) for row in [header, *body]) for i in range(len(header) - 1)]
    return ["  ".join(cell.ljust(w) for cell, w in zip(cells, widths)) + "  " + cells[-1]
            for cells in [header, *body]]


def levels_lines(points: Sequence[Point], stages: Sequence[StageCost], images: int, cases: Sequence[Case],
                 all_cores: int) -> list[str]:
    """The parallelism table: each row's later-epoch images/s at ``images`` images on every core count measured
    (the pinned children's points, and the ones on all ``all_cores``), the stage model's prediction error where it
    has one, and the speed-up from one core to all; then the stage costs. Empty when neither was measured."""
    at = {(p.case, p.epoch, p.cores): p.images / p.median_s for p in points if p.images == images}
    levels = sorted({p.cores for p in points if p.cores is not None} | {all_cores})
    if len(levels) < 2 and not stages:
        return []
    lines = []
    if len(levels) >= 2:
        header = ["pipeline", *(f"{k} core{'s' if k > 1 else ''}" for k in levels),
                  f"{levels[-1]} vs {levels[0]} cores (1st / later)"]
        body = []
        for case in cases:
            cells = [row_label(case)]
            for k in levels:
                rate = at.get((case.id, "warm", None if k == all_cores else k))
                predicted = predicted_rate(stages, case.id, k) if stages else None
                cell = f"{rate:.0f}" if rate else "-"
                if rate and predicted:
                    cell += f" (pred {100 * (predicted / rate - 1):+.0f}%)"
                cells.append(cell)
            cells.append(" / ".join(speedup(at.get((case.id, e, None)), at.get((case.id, e, levels[0])))
                                    for e in ("cold", "warm")))
            body.append(cells)
        widths = [max(len(r[i]) for r in [header, *body]) for i in range(len(header))]
        lines += [f"Parallelism: later epochs' images/s at {images:,} images on each core count (pred: cores / "
                  "the stages' cost per image, predicted/measured - 1)"]
        lines += ["  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in [header, *body]]
    if stages:
        costs = ", ".join(f"{s.stage} {1000 * s.median_s:.2f} ±{1000 * s.spread_s:.2f}" for s in stages)
        uncached = {s.stage: max(s.median_s, 0.0) for s in stages if s.stage in ROW_STAGES["tfdata-none-uint8"]}
        heaviest = max(uncached, key=uncached.get)
        share = uncached[heaviest] / sum(uncached.values()) if sum(uncached.values()) else 0.0
        lines.append(f"Stage costs on one thread, ms an image (the first {STAGE_SAMPLE} images or fewer, page cache "
                     f"warm): {costs}; {heaviest} is {100 * share:.0f}% of an uncached image's work")
    return lines
