"""The benchmark matrix: which loader x cache mode x placement cases exist, and their ids.

Ids are ``<loader>-<cache>-<placement>-<epoch>`` (``tfdata-file-uint8-warm``). They are what makes
``--benchmark-compare`` line runs up, so they change only on purpose.

* ``placement`` is what a cache holds (see :class:`~pipelines.loaders.contract.Contract`); with no cache, ``uint8``
  (normalise after batching, the cheaper spot) is the one built; ImageDataGenerator always yields ``float32``.
* ImageDataGenerator's ``memory`` and ``file`` cases are listed and skipped with the reason: it has no cache.
* ``cold`` is a first epoch on a fresh pipeline with the dataset evicted from the page cache (it fills any
  cache); ``warm`` is a later epoch of the same pipeline.
* Cases whose loader or cache mode is declared ``extended`` (TFRecord, the tf.data service, snapshot and
  save/load) carry the ``extended`` mark and run only with ``--extended``, so the default run keeps its budget.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from pipelines.caches.modes import CACHE_SPECS, CacheMode, CacheSpec
from pipelines.loaders.contract import PLACEMENTS, Contract, Placement
from pipelines.loaders.pipeline import unbuildable_reason
from pipelines.loaders.registry import LOADER_SPECS, LoaderSpec

#: The two kinds of epoch every case is timed in (:mod:`pipelines.harness.cold_warm`); the last part of its id.
EPOCH_KINDS: tuple[str, ...] = ("cold", "warm")


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

    @property
    def extended(self) -> bool:
        """Its loader or cache mode is declared part of the extended group (run with ``--extended``)."""
        return LOADER_SPECS[self.loader].extended or CACHE_SPECS[self.cache].extended

    @property
    def on_service(self) -> bool:
        """Its loader runs on a tf.data service, which the suite starts for it unless given one."""
        return LOADER_SPECS[self.loader].on_service


def _placements(spec: LoaderSpec, cache: CacheSpec) -> tuple[Placement, ...]:
    if spec.placement:
        return (spec.placement,)  # type: ignore[return-value]
    return PLACEMENTS if cache.caches else ("uint8",)


def throughput_cases(loaders: Iterable[LoaderSpec],
                     caches: Mapping[str, CacheSpec] = CACHE_SPECS) -> tuple[Case, ...]:
    """Every case the declarations give: each loader x the cache modes it offers or lists x its placements."""
    return tuple(
        Case(spec.name, cache.name, placement)  # type: ignore[arg-type]
        for spec in loaders
        for cache in caches.values() if cache.name in spec.caches or cache.name in spec.listed_caches
        for placement in _placements(spec, cache)
    )


def training_cases(cases: Iterable[Case]) -> tuple[Case, ...]:
    """Training repeats the cache modes with the uint8 placement only (or the loader's one placement): the
    model's speed, not the cache's layout, decides an epoch on a CPU, and each MobileNet epoch costs minutes at
    the study's sizes."""
    return tuple(c for c in cases if LOADER_SPECS[c.loader].trained
                 and (c.placement == "uint8" or LOADER_SPECS[c.loader].placement))


THROUGHPUT_CASES: tuple[Case, ...] = throughput_cases(LOADER_SPECS.values())
TRAINING_CASES: tuple[Case, ...] = training_cases(THROUGHPUT_CASES)


def case_id(case: Case, epoch: str) -> str:
    return f"{case.id}-{epoch}"


def record_case(record: Mapping[str, Any]) -> str:
    """The case id (``tfdata-file-uint8``) of a saved ``extra_info`` record (rebuilt for records written before
    records carried it)."""
    return record.get("case") or Case(record["loader"], record["cache"], record["placement"]).id
