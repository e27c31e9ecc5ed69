"""The built pipeline every benchmark and test handles, whatever the loader behind it."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pipelines.caches.folders import cache_workspace, clear_partial_cache
from pipelines.loaders.contract import Contract
from pipelines.datasets import DatasetIndex

from pipelines.loaders.registry import LOADER_SPECS, LOADERS


@dataclass(frozen=True)
class Built:
    """What a builder returns when its epochs read other files than the dataset's images."""

    fit_input: Any
    source_paths: tuple[Path, ...]


@dataclass
class Pipeline:
    """A built pipeline.

    Attributes:
        loader: key of :data:`LOADERS`.
        contract: what it was built to deliver.
        index: the dataset it reads.
        fit_input: what to pass to ``model.fit`` (a ``tf.data.Dataset`` or a Keras ``PyDataset``).
        cache_prefix: the on-disk cache's path prefix (cache modes that live on disk only).
        source_paths: the files an epoch reads (a cold epoch evicts them first): the dataset's images, or what
            the loader reads instead (TFRecord shards).
    """

    loader: str
    contract: Contract
    index: DatasetIndex
    fit_input: Any
    cache_prefix: Path | None = None
    source_paths: tuple[Path, ...] = ()

    def __post_init__(self) -> None:
        if isinstance(self.fit_input, Built):
            self.source_paths = self.source_paths or self.fit_input.source_paths
            self.fit_input = self.fit_input.fit_input
        self.source_paths = self.source_paths or tuple(self.index.paths)

    @property
    def steps(self) -> int:
        """Batches in one epoch (the last one may be short)."""
        return math.ceil(self.index.images / self.contract.batch_size)

    def before_epoch(self) -> None:
        """Clear a file cache a killed writer left half-written: its lockfile would make TensorFlow refuse to
        start the epoch ("There appears to be a concurrent caching iterator running")."""
        if self.cache_prefix is not None:
            clear_partial_cache(self.cache_prefix)

    def epoch(self) -> Iterator[tuple[Any, Any]]:
        """One full epoch of ``(images, labels)`` batches, produced as ``model.fit`` would produce them.

        Consume it whole: a cache is only complete after a full pass.
        """
        self.before_epoch()
        own_epoch: Callable[[], Iterator] | None = getattr(self.fit_input, "epoch", None)
        return own_epoch() if own_epoch else iter(self.fit_input)


def unbuildable_reason(loader: str, contract: Contract) -> str | None:
    """Why ``loader`` cannot honour ``contract`` (shown as the case's skip reason), or None."""
    spec = LOADER_SPECS.get(loader)
    if spec is None:
        return f"unknown loader {loader!r}: choose one of {', '.join(LOADERS)}"
    if missing := spec.missing():
        return missing
    if contract.cache not in spec.caches:
        has = "has no cache" if spec.caches == ("none",) else f"offers cache={'/'.join(spec.caches)} only"
        return f"{spec.label} {has}: cache={contract.cache} is not offered by this loader"
    if spec.on_service and not contract.service_address:
        return (f"{spec.label} needs a tf.data service: give its dispatcher's address "
                "(--data-service grpc://host:port)")
    return None


@contextmanager
def open_pipeline(loader: str, index: DatasetIndex, contract: Contract) -> Iterator[Pipeline]:
    """Build ``loader``'s pipeline over ``index`` under ``contract``; its cache files are gone on exit."""
    reason = unbuildable_reason(loader, contract)
    if reason:
        raise ValueError(reason)
    build = LOADER_SPECS[loader].build_function()
    if not contract.cache_spec.on_disk:
        with _closing(build(index, contract, None)) as built:
            yield Pipeline(loader, contract, index, built)
        return
    with cache_workspace(contract.cache_dir) as folder:
        prefix = folder / f"{loader}-{contract.placement}.tfcache"
        with _closing(build(index, contract, prefix)) as built:
            yield Pipeline(loader, contract, index, built, cache_prefix=prefix)


@contextmanager
def _closing(built: Any) -> Iterator[Any]:
    """A built pipeline, closed on exit where it holds processes to stop (Grain's workers: ``close()``)."""
    try:
        yield built
    finally:
        close = getattr(built, "close", None)
        if callable(close):
            close()
