"""Step 4: the full-size table -- each row's first and later epochs at any size, from the laws and the bounds.

A later epoch without a cache follows the first-epoch law where the JPEGs outgrow the page cache (re-reading the
share it misses); a memory cache larger than the RAM budget, or a file cache than the free disk, "does not fit",
with both sizes -- the crash the original study met, predicted (the check that skips a benchmark case).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from pipelines.caches.modes import CACHE_SPECS
from pipelines.harness.cases import Case
from pipelines.loaders.registry import LOADER_SPECS
from pipelines.memory.predict import exceeds_budget, exceeds_disk, free_disk, predict_cache, ram_needed
from pipelines.study.bound import page_cache_room, reread_share, rereads_storage, stall, traffic
from pipelines.study.fit import Estimate, Law, fit_law
from pipelines.study.measure import Measured
from pipelines.study.settings import STUDY_CASES, StudySettings
from pipelines.units import format_bytes


@dataclass(frozen=True)
class StudyRow:
    """One row of the table at one size: its loader epochs (``later`` shown only where its cache fits), its
    cache's bytes, whether it fits and why not (``note``), and, with a model, its training epochs."""

    case: Case
    label: str
    first: Estimate
    later: Estimate
    cache_bytes: int
    fits: bool
    note: str = ""
    train_first: Estimate | None = None
    train_later: Estimate | None = None

    def epoch(self, training: bool) -> Estimate | None:
        """The later epoch the recommendation weighs (training's with a model); ``None``: it does not fit."""
        if not self.fits:
            return None
        return self.train_later if training else self.later


def row_label(case: Case) -> str:
    spec = LOADER_SPECS[case.loader]
    if not CACHE_SPECS[case.cache].caches:
        return spec.label if spec.placement else f"{spec.label}, no cache"
    return f"{spec.label} + {case.cache} cache ({case.placement})"


def laws(measured: Measured, leave_out: int | None, model: str | None) -> dict[tuple[str, str], Law]:
    """The law of every (case id, epoch kind) measured on all cores at two sizes at least, without the size
    ``leave_out``; the loaders' epochs, or with ``model`` that model's training epochs."""
    grouped: dict[tuple[str, str], list] = {}
    for p in measured.points:
        if p.cores is None and p.model == model and p.images != leave_out:
            grouped.setdefault((p.case, p.epoch), []).append((p.images, p.seconds))
    return {key: fit_law(values) for key, values in grouped.items() if len({n for n, _ in values}) >= 2}


@dataclass(frozen=True)
class Predictor:
    """The table at any size from a study's measurements (laws fitted without the held-out size). Training
    epochs: ``trained``'s measured ones, else composed with ``model_s_per_image`` -- added on a CPU (the two
    share its cores), else the slower of the two (prefetching overlaps them at best)."""

    settings: StudySettings
    measured: Measured
    trained: str | None = None
    model_s_per_image: float | None = None
    shares_cpu: bool = False

    @property
    def per_image_bytes(self) -> float:
        sizes = {p.images: p.dataset_bytes for p in self.measured.points if p.cores is None}
        return sum(sizes.values()) / sum(sizes)

    @property
    def room(self) -> int:
        return page_cache_room(self.settings.ram_budget, self.measured.resident_bytes)

    def cache_bytes(self, case: Case, images: int) -> int:
        contract = case.contract(self.settings.contract)
        return predict_cache(images, contract).total_bytes if contract.cache_spec.caches else 0

    def epoch(self, case: Case, kind: str, images: int, model: str | None = None, epochs: int = 1
              ) -> Estimate | None:
        """``case``'s epoch of ``kind`` at ``images`` as the table predicts it, whether or not its cache fits,
        its interval for the median of ``epochs`` epochs (``None``: not measured at two sizes)."""
        fitted = laws(self.measured, self.settings.held_out, model)
        jpeg_bytes = self.per_image_bytes * images
        law_kind = "cold" if kind == "warm" and rereads_storage(case, jpeg_bytes, self.room) else kind
        if (case.id, law_kind) not in fitted:
            return None
        nbytes, rates = self.cache_bytes(case, images), self.measured.bandwidths
        law = fitted[(case.id, law_kind)].estimate(images, epochs).plus(stall(case, kind, nbytes, rates))
        moved = traffic(case, kind, jpeg_bytes, nbytes, self.room, rates)
        return law.overlapping(moved) if kind == "warm" and CACHE_SPECS[case.cache].on_disk else law.at_least(moved)

    def training(self, case: Case, kind: str, images: int, loader: Estimate | None) -> Estimate | None:
        """A training epoch: measured training epochs' law where there is one, else composed."""
        if self.trained:
            return self.epoch(case, kind, images, self.trained)
        if loader is None or not self.model_s_per_image:
            return None
        model_s = self.model_s_per_image * images
        alone = Estimate(model_s, model_s, model_s)
        return loader.plus(alone) if self.shares_cpu else loader.at_least(alone)

    def rows(self, images: int) -> list[StudyRow]:
        rows = []
        jpeg_bytes = self.per_image_bytes * images
        for case in STUDY_CASES:
            first, later = self.epoch(case, "cold", images), self.epoch(case, "warm", images)
            if first is None or later is None:
                continue  # not measured at two sizes (not installed, or too big for this machine)
            spec, nbytes = CACHE_SPECS[case.cache], self.cache_bytes(case, images)
            prediction = predict_cache(images, case.contract(self.settings.contract)) if spec.caches else None
            fits, note = True, ""
            if rereads_storage(case, jpeg_bytes, self.room):
                note = (f"later epochs read {reread_share(self.room, jpeg_bytes):.0%} of the JPEGs from storage "
                        f"again: {format_bytes(jpeg_bytes)} do not stay in {format_bytes(self.room)} of page cache")
            elif spec.in_ram and exceeds_budget(prediction, self.settings.ram_budget):
                needed = format_bytes(nbytes)
                if nbytes <= self.settings.ram_budget:  # what makes it not fit: the margin and the working set
                    needed += f" + margin and working set = {format_bytes(ram_needed(prediction))}"
                fits, note = False, f"does not fit: {needed} > {format_bytes(self.settings.ram_budget)} of RAM"
            elif spec.on_disk and exceeds_disk(prediction, self.disk):
                fits, note = False, f"does not fit: {format_bytes(nbytes)} > {format_bytes(self.disk)} of free disk"
            rows.append(StudyRow(case, row_label(case), first, later, nbytes, fits, note,
                                 self.training(case, "cold", images, first),
                                 self.training(case, "warm", images, later) if fits else None))
        return rows

    @property
    def disk(self) -> int:
        return self.measured.free_disk_bytes or free_disk(self.settings.contract.cache_dir)


def format_estimate(estimate: Estimate | None) -> str:
    """``14.2 min (11.0-17.3)`` for an epoch the size of the study's, ``12.3 s (11.0-14.1)`` below two minutes."""
    if estimate is None:
        return "-"
    scale, unit = (60, "min") if estimate.seconds >= 120 else (1, "s")
    middle = f"{estimate.seconds / scale:.1f} {unit}"
    if math.isinf(estimate.high):  # one round at two sizes: nothing to say how far an epoch strays
        return f"{middle} (no interval)"
    return f"{middle} ({estimate.low / scale:.1f}-{estimate.high / scale:.1f})"


def table_lines(rows: Sequence[StudyRow], markdown: bool = False) -> list[str]:
    """The table as aligned text or Markdown."""
    baseline = next((r for r in rows if r.case.loader == "idg"), None)
    training = any(r.train_first for r in rows)
    header = ["pipeline", "epoch 1", "later epochs", "vs idg (later)", "cache", "note"]
    if training:
        header[3:3] = ["training epoch 1", "training later"]
    body = []
    for r in rows:
        mine, theirs = r.epoch(training), baseline and baseline.epoch(training)
        cells = [r.label, format_estimate(r.first), format_estimate(r.later if r.fits else None),
                 f"{theirs.seconds / mine.seconds:.1f}x" if mine and theirs else "-",
                 format_bytes(r.cache_bytes) if r.cache_bytes else "-", r.note]
        if training:
            cells[3:3] = [format_estimate(r.train_first), format_estimate(r.train_later)]
        body.append(cells)
    if markdown:
        return ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)] + [
            "| " + " | ".join(cells) + " |" for cells in body]
    return aligned([header, *body])


def aligned(rows: Sequence[Sequence[str]]) -> list[str]:
    """``rows`` of cells as lines of aligned columns."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return ["  ".join(c.ljust(w) for c, w in zip(cells, widths)).rstrip() for cells in rows]
