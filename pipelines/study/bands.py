"""The held-out error a study prints beside each epoch, recomputed with what could move it taken one at a time.

* Each probe alone: the JPEGs' read rate and a memory fill's cost are probed before and after the epochs, and
  what one gives the other need not -- a volume's rate and a VM's price for a fresh page move over a run -- so
  the band between them is how far the prediction could be from the epoch for the probes' own change.
* Each round alone: the held-out epoch's own rounds differ, and an error between theirs is within what the
  measurement itself spread.
* Each round's own kernel time: the law fitted to the time the fitted sizes spent outside the kernel, plus the
  kernel time each held-out round was measured to take. A cache's fresh pages, a file cache's write-back and
  the JPEGs' reads are the kernel's work, and its price moves on a VM from one run to the next (the same 1.8 GB
  of fresh pages cost 2.8 s in the kernel in one run, 9.9 s in another); where this band is within the law's
  reach and the error is not, the miss is the kernel's time, measured, and not the law's.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING

from pipelines.study.bounds import served_from_a_cache
from pipelines.study.table import held_out_errors

if TYPE_CHECKING:
    from pipelines.study.predictor import Predictor
    from pipelines.study.scaling import Point

#: A band: the lowest and highest held-out error of each (case id, epoch kind).
Bands = dict[tuple[str, str], tuple[float, float]]


def error_bands(predictor: Predictor, errors: dict[tuple[str, str], float]) -> Bands:
    """The lowest and highest of each held-out error in ``errors`` with the JPEGs read at each rate probed alone
    (before and after the epochs; not one served from a cache below this machine), where the two round apart:
    the errors the volume's own change allows."""
    cached = served_from_a_cache(predictor.bandwidths)
    probes = [b for b in predictor.bandwidths if b.kind == "jpegs" and b not in cached]
    return bands_over([replace(predictor, bandwidths=[b for b in predictor.bandwidths
                                                      if b.kind != "jpegs" or b is probe]) for probe in probes],
                      errors)


def fill_bands(predictor: Predictor, errors: dict[tuple[str, str], float]) -> Bands:
    """The lowest and highest of each held-out error in ``errors`` at the memory fills' cost as each probe
    measured it alone (before and after the epochs), where they round apart: the errors that a fresh page's
    moving price allows."""
    times = sorted({f.when for f in predictor.memory_fills})
    return bands_over([replace(predictor, memory_fills=[f for f in predictor.memory_fills if f.when == when])
                       for when in times], errors)


def bands_over(variants: Sequence[Predictor], errors: dict[tuple[str, str], float]) -> Bands:
    """The lowest and highest of each error in ``errors`` as each of ``variants`` predicts it, where they round
    apart (none from fewer than two)."""
    if len(variants) < 2:
        return {}
    at_each = [errors_of(variant) for variant in variants]
    bands = {key: (min(e[key] for e in at_each), max(e[key] for e in at_each)) for key in errors}
    return {key: (low, high) for key, (low, high) in bands.items() if round(100 * low) != round(100 * high)}


def round_bands(predictor: Predictor, errors: dict[tuple[str, str], float]) -> Bands:
    """The lowest and highest of each held-out error in ``errors`` against each of the held-out size's rounds
    alone (where it was measured more than once): the measurement's own spread."""
    def extra(point: Point, _round: int) -> float:
        return predictor.fill(point.images)(point.case, point.epoch)

    fitted = [p for p in predictor.points if p.images != predictor.settings.held_out]
    held = held_out_points(predictor)
    return {key: band for key, band in at_each_round(predictor, errors, fitted, extra).items()
            if len(held[key].seconds) > 1}


def kernel_bands(predictor: Predictor, errors: dict[tuple[str, str], float], cores: int) -> Bands:
    """The lowest and highest of each held-out error in ``errors`` with the kernel's time as each held-out round
    measured it: the law fitted to the fitted sizes' time outside the kernel (each round less its kernel CPU
    seconds spread over the ``cores``), plus that round's own kernel seconds over the cores, against the round
    (and still bounded below by the storage's traffic). Only from fitted epochs that counted their kernel time
    (:mod:`pipelines.epoch.faults`; a study.json that predates it has none), at two sizes at least, and where
    every held-out round counted it too."""
    held_out = predictor.settings.held_out
    outside = [replace(p, seconds=tuple(s - f.kernel_s / cores for s, f in zip(p.seconds, p.faults)), faults=())
               for p in predictor.points if p.images != held_out and len(p.faults) == len(p.seconds)]

    def extra(point: Point, index: int) -> float:
        return point.faults[index].kernel_s / cores if index < len(point.faults) else 0.0

    counted = {key for key, p in held_out_points(predictor).items() if len(p.faults) == len(p.seconds)}
    return {key: band for key, band in at_each_round(predictor, errors, outside, extra).items() if key in counted}


def at_each_round(predictor: Predictor, errors: dict[tuple[str, str], float], fitted: Sequence[Point],
                  extra: Callable[[Point, int], float]) -> Bands:
    """The lowest and highest of each held-out error in ``errors`` as the laws of ``fitted`` predict each round
    of the held-out size alone, with ``extra(point, round)`` added to the law (fresh pages, kernel time)."""
    held_out = predictor.settings.held_out
    measured = held_out_points(predictor).values()
    at_each: list[dict[tuple[str, str], float]] = []
    for index in range(max((len(p.seconds) for p in measured), default=0)):
        ones = {(p.case, p.epoch): p for p in measured if index < len(p.seconds)}
        at_each.append(held_out_errors(
            [*fitted, *(replace(p, seconds=(p.seconds[index],)) for p in ones.values())], held_out,
            io=predictor.io(held_out), later_kind=predictor.later_kind(held_out),
            fill=lambda case, kind: extra(ones[(case, kind)], index)))  # noqa: B023 (called in this round)
    return {key: (min(found), max(found)) for key in errors
            if (found := [e[key] for e in at_each if key in e])}


def held_out_points(predictor: Predictor) -> dict[tuple[str, str], Point]:
    """The loader epochs measured at the held-out size on all cores, by (case id, epoch kind)."""
    held_out = predictor.settings.held_out
    return {(p.case, p.epoch): p for p in predictor.points
            if p.images == held_out and p.cores is None and p.model is None}


def errors_of(predictor: Predictor) -> dict[tuple[str, str], float]:
    """The loader epochs' held-out errors as ``predictor`` predicts them (empty without a held-out size)."""
    held_out = predictor.settings.held_out
    return (held_out_errors(predictor.points, held_out, io=predictor.io(held_out),
                            later_kind=predictor.later_kind(held_out), fill=predictor.fill(held_out))
            if held_out else {})
