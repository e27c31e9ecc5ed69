"""The cache modes, each declared once: builders, cases, skip rules, the predictor, the plan and the reports
read this registry (a new mode is one declaration here plus its op in :data:`pipelines.loaders.tfops.CACHE_OPS`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from pipelines.options import Option

CacheMode = str  # a key of CACHE_SPECS (declared below), not a fixed list: a new mode is one declaration

CacheHome = Literal["nowhere", "ram", "disk"]


@dataclass(frozen=True)
class CacheSpec:
    """A cache mode, declared once: builders, cases, skip rules, the predictor, the plan and the reports read it.

    Attributes:
        name: the mode's name on the command line and in case ids.
        home: where cached elements live: ``nowhere`` (nothing is cached), ``ram`` (counts against the RAM
            budget) or ``disk`` (counts against free disk space; evicted from the page cache before warm epochs).
        element_overhead: bytes a cached element costs beyond its tensors, for the predictor. File:
            the tensor-bundle index entry, measured on TensorFlow 2.21 at 55-60 bytes for 32x32 to 224x224 images
            (tests/test_memory.py checks it to the byte range). Memory: two tensor headers, estimated; far below
            the noise of an RSS measurement. A compressed mode's prediction is the uncompressed size: an upper
            bound for the disk check, and the bytes saved are the measured ``cache_bytes`` against it.
        writes_ahead: the cache is written by a pass of its own before the first epoch reads it
            (``Dataset.save``, then ``Dataset.load``): that pass is timed as part of the first (``cold``) epoch,
            since a user pays it before training starts.
        extended: its cases belong to the extended group (``--extended``), kept out of the default run's budget.
    """

    name: str
    home: CacheHome
    element_overhead: int = 0
    writes_ahead: bool = False
    extended: bool = False

    @property
    def caches(self) -> bool:
        return self.home != "nowhere"

    @property
    def in_ram(self) -> bool:
        return self.home == "ram"

    @property
    def on_disk(self) -> bool:
        return self.home == "disk"


CACHE_SPECS: dict[str, CacheSpec] = {
    spec.name: spec
    for spec in (
        CacheSpec("none", "nowhere"),
        CacheSpec("memory", "ram", element_overhead=64),  # Dataset.cache()
        CacheSpec("file", "disk", element_overhead=60),  # Dataset.cache(path), written during the first epoch
        # Dataset.snapshot(path): persistent, written during the first epoch, reused by a later run (90 B an
        # element on disk beyond its tensors, measured on smoke, uint8 and float32)
        CacheSpec("snapshot", "disk", element_overhead=90, extended=True),
        # Dataset.save(path[, GZIP]) before training, Dataset.load(path) every epoch (60 B measured, uncompressed)
        CacheSpec("save", "disk", element_overhead=60, writes_ahead=True, extended=True),
        CacheSpec("save-gzip", "disk", element_overhead=60, writes_ahead=True, extended=True),
    )
}
CACHE_MODES: tuple[CacheMode, ...] = tuple(CACHE_SPECS)  # type: ignore[assignment]

CACHE = Option("--cache", "the cache mode: none, memory (Dataset.cache()) or file (Dataset.cache(path))",
               default="memory", choices=CACHE_MODES)
