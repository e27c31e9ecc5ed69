"""The benchmark matrix: which loader x cache mode x placement cases exist, and their ids.

Ids are ``<loader>-<cache>-<placement>-<epoch>`` (``tfdata-file-uint8-warm``). They are what makes
``--benchmark-compare`` line runs up, so they change only on purpose.

* ``placement`` is what a cache holds (see :class:`~pipelines.config.Contract`); with no cache, ``uint8``
  (normalise after batching, the cheaper spot) is the one built; ImageDataGenerator always yields ``float32``.
* ImageDataGenerator's ``memory`` and ``file`` cases are listed and skipped with the reason: it has no cache.
* ``cold`` is a first epoch on a fresh pipeline with the dataset evicted from the page cache (it fills any
  cache); ``warm`` is a later epoch of the same pipeline.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pipelines.config import CACHE_MODES, PLACEMENTS, CacheMode, Contract, Placement
from pipelines.loaders.pipeline import LOADERS, VARIANTS, base_loader, unbuildable_reason

EPOCHS: tuple[str, ...] = ("cold", "warm")


@dataclass(frozen=True)
class Case:
    loader: str
    cache: CacheMode
    placement: Placement

    @property
    def id(self) -> str:
        return f"{self.loader}-{self.cache}-{self.placement}"

    def contract(self, base: Contract) -> Contract:
        return base.with_(cache=self.cache, placement=self.placement)

    def skip_reason(self, base: Contract) -> str | None:
        return unbuildable_reason(self.loader, self.contract(base))


#: Variants that change the decode itself: a throughput question (the model, not the decode, sets a CPU epoch).
DECODE_VARIANTS: tuple[str, ...] = ("tfdata-fast",)


def _placements(loader: str, cache: CacheMode) -> tuple[Placement, ...]:
    if base_loader(loader) == "idg":
        return ("float32",)
    return ("uint8",) if cache == "none" else PLACEMENTS


def _caches(loader: str) -> tuple[CacheMode, ...]:
    # Variants are timed with no cache: a faster decode changes the work a warm cached epoch skips anyway, and
    # ImageDataGenerator's worker processes have no cache to offer.
    return ("none",) if loader in VARIANTS else CACHE_MODES


THROUGHPUT_CASES: tuple[Case, ...] = tuple(
    Case(loader, cache, placement)
    for loader in LOADERS
    for cache in _caches(loader)
    for placement in _placements(loader, cache)
)

#: Training repeats the cache modes with the uint8 placement only: the model's speed, not the cache's
#: layout, decides an epoch on a CPU, and each MobileNet epoch costs minutes at the study's sizes. The decode
#: variants are throughput questions.
TRAINING_CASES: tuple[Case, ...] = tuple(
    c for c in THROUGHPUT_CASES
    if (c.placement == "uint8" or base_loader(c.loader) == "idg") and c.loader not in DECODE_VARIANTS
)


def case_id(case: Case, epoch: str) -> str:
    return f"{case.id}-{epoch}"


def record_case(record: Mapping[str, Any]) -> str:
    """The case id (``tfdata-file-uint8``) of a saved ``extra_info`` record."""
    return Case(record["loader"], record["cache"], record["placement"]).id
