"""The plan on paper: every cache mode and placement's predicted bytes and whether it fits, with advice."""

from __future__ import annotations

from dataclasses import dataclass

from pipelines.caches.modes import CACHE_SPECS
from pipelines.loaders.contract import PLACEMENTS, Contract
from pipelines.memory.predict import exceeds_budget, predict_cache, ram_needed
from pipelines.units import format_bytes


@dataclass(frozen=True)
class PlanLine:
    cache: str
    placement: str
    predicted_bytes: int
    vs_jpeg: float
    fits: bool
    advice: str


def plan(images: int, jpeg_bytes: int, contract: Contract, budget: int) -> list[PlanLine]:
    """One line per cache mode that caches x placement, for ``images`` images of ``jpeg_bytes`` JPEGs in all."""
    lines = []
    disk_cache = next(s.name for s in CACHE_SPECS.values() if s.on_disk)
    for spec in (s for s in CACHE_SPECS.values() if s.caches):
        for placement in PLACEMENTS:
            prediction = predict_cache(images, contract.with_(cache=spec.name, placement=placement))
            too_big = exceeds_budget(prediction, budget)
            if spec.on_disk:
                advice = "on disk: needs this much free disk, reads back without decoding"
            elif too_big:
                smaller = "uint8" if placement == "float32" else None
                fits_smaller = smaller and not exceeds_budget(
                    predict_cache(images, contract.with_(cache=spec.name, placement=smaller)), budget)
                advice = (f"{spec.name} cache does not fit: use the uint8 placement" if fits_smaller
                          else f"{spec.name} cache does not fit: use the {disk_cache} cache")
            else:
                advice = f"fits: {format_bytes(ram_needed(prediction))} of {format_bytes(budget)} with margin"
            lines.append(PlanLine(spec.name, placement, prediction.total_bytes,
                                  prediction.total_bytes / jpeg_bytes if jpeg_bytes else float("nan"),
                                  not too_big, advice))
    return lines


def format_plan(lines: list[PlanLine], images: int, jpeg_bytes: int, budget: int, contract: Contract) -> str:
    height, width = contract.image_size
    name = max([len("cache"), *(len(line.cache) for line in lines)])
    out = [f"{images:,} images, {format_bytes(jpeg_bytes)} of JPEGs, decoded at {height}x{width}x3; "
           f"RAM budget {format_bytes(budget)}",
           f"{'cache':{name}} {'placement':9} {'predicted':>10} {'x JPEGs':>8}  {'fits':4}  advice"]
    for line in lines:
        out.append(f"{line.cache:{name}} {line.placement:9} {format_bytes(line.predicted_bytes):>10} "
                   f"{line.vs_jpeg:>7.1f}x  {'yes' if line.fits else 'NO':4}  {line.advice}")
    return "\n".join(out)
