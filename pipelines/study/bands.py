"""The held-out error a study prints beside each epoch, recomputed with each probe alone: the JPEGs' read
rate and a memory fill's cost are probed before and after the epochs, and what one gives the other need not --
a volume's rate and a VM's price for a fresh page move over a run -- so the band between them is how far the
prediction could be from the epoch for the probes' own change, not the law's."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import TYPE_CHECKING

from pipelines.study.bounds import served_from_a_cache
from pipelines.study.table import held_out_errors

if TYPE_CHECKING:
    from pipelines.study.run import Predictor


def error_bands(predictor: Predictor, errors: dict[tuple[str, str], float]
                ) -> dict[tuple[str, str], tuple[float, float]]:
    """The lowest and highest of each held-out error in ``errors`` with the JPEGs read at each rate probed alone
    (before and after the epochs; not one served from a cache below this machine), where the two round apart:
    the errors the volume's own change allows."""
    cached = served_from_a_cache(predictor.bandwidths)
    probes = [b for b in predictor.bandwidths if b.kind == "jpegs" and b not in cached]
    return bands_over([replace(predictor, bandwidths=[b for b in predictor.bandwidths
                                                      if b.kind != "jpegs" or b is probe]) for probe in probes],
                      errors)


def fill_bands(predictor: Predictor, errors: dict[tuple[str, str], float]
               ) -> dict[tuple[str, str], tuple[float, float]]:
    """The lowest and highest of each held-out error in ``errors`` at the memory fills' cost as each probe
    measured it alone (before and after the epochs), where they round apart: the errors that a fresh page's
    moving price allows."""
    times = sorted({f.when for f in predictor.memory_fills})
    return bands_over([replace(predictor, memory_fills=[f for f in predictor.memory_fills if f.when == when])
                       for when in times], errors)


def bands_over(variants: Sequence[Predictor], errors: dict[tuple[str, str], float]
               ) -> dict[tuple[str, str], tuple[float, float]]:
    """The lowest and highest of each error in ``errors`` as each of ``variants`` predicts it, where they round
    apart (none from fewer than two)."""
    if len(variants) < 2:
        return {}
    at_each = [errors_of(variant) for variant in variants]
    bands = {key: (min(e[key] for e in at_each), max(e[key] for e in at_each)) for key in errors}
    return {key: (low, high) for key, (low, high) in bands.items() if round(100 * low) != round(100 * high)}


def errors_of(predictor: Predictor) -> dict[tuple[str, str], float]:
    """The loader epochs' held-out errors as ``predictor`` predicts them (empty without a held-out size)."""
    held_out = predictor.settings.held_out
    return (held_out_errors(predictor.points, held_out, io=predictor.io(held_out),
                            later_kind=predictor.later_kind(held_out), fill=predictor.fill(held_out))
            if held_out else {})
