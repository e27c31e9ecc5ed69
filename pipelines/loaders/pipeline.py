"""The built pipeline every benchmark and test handles, whatever the loader behind it."""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pipelines.cache import cache_workspace, clear_partial_cache
from pipelines.config import Contract
from pipelines.datasets import DatasetIndex

#: Loader name -> (module, builder function). Imported lazily: ImageDataGenerator pulls in tf_keras.
LOADERS: dict[str, tuple[str, str]] = {
    "idg": ("pipelines.loaders.idg", "build_idg_pipeline"),
    "idg-processes": ("pipelines.loaders.idg", "build_idg_processes_pipeline"),
    "tfdata": ("pipelines.loaders.tfdata", "build_tfdata_pipeline"),
    "tfdata-fast": ("pipelines.loaders.tfdata", "build_tfdata_fast_pipeline"),
    "kerasdir": ("pipelines.loaders.kerasdir", "build_kerasdir_pipeline"),
}

#: Variants of a loader (variant -> the loader it varies): the same library, built another way its users build it.
VARIANTS: dict[str, str] = {"tfdata-fast": "tfdata", "idg-processes": "idg"}


def base_loader(loader: str) -> str:
    """The loader a variant belongs to (``idg-processes`` -> ``idg``)."""
    return VARIANTS.get(loader, loader)


@dataclass
class Pipeline:
    """A built pipeline.

    Attributes:
        loader: key of :data:`LOADERS`.
        contract: what it was built to deliver.
        index: the dataset it reads.
        fit_input: what to pass to ``model.fit`` (a ``tf.data.Dataset`` or a Keras ``PyDataset``).
        cache_prefix: the file cache's path prefix (``file`` cache mode only).
    """

    loader: str
    contract: Contract
    index: DatasetIndex
    fit_input: Any
    cache_prefix: Path | None = None

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
        batches = own_epoch() if own_epoch else iter(self.fit_input)
        fraction = injected_slowdown(self.loader)
        return _slowed(batches, fraction) if fraction else batches


#: ``LOADERBENCH_SLOWDOWN="tfdata=0.25"`` (or ``*=0.25``) makes every epoch of a loader 25% longer: a
#: seeded regression, to rehearse that the CI gate fails (README, "Regression gate"). Never set in normal runs.
SLOWDOWN_VARIABLE = "LOADERBENCH_SLOWDOWN"


def injected_slowdown(loader: str) -> float:
    """The slowdown fraction ``LOADERBENCH_SLOWDOWN`` asks of ``loader`` (0.0 when unset)."""
    fractions = {}
    for part in filter(None, os.environ.get(SLOWDOWN_VARIABLE, "").split(",")):
        name, _, value = part.partition("=")
        try:
            fractions[name.strip()] = float(value)
        except ValueError:
            raise ValueError(f"{SLOWDOWN_VARIABLE}: expected loader=fraction, e.g. tfdata=0.25, got {part!r}") from None
    return fractions.get(loader, fractions.get("*", 0.0))


def _slowed(batches: Iterator, fraction: float) -> Iterator:
    """Hold back the epoch's last batch for ``fraction`` of the time the epoch took so far.

    A delay per batch would be hidden by prefetching (the pipeline catches up while the consumer sleeps); a
    delay before the last batch adds exactly ``fraction`` of the epoch, whatever the pipeline overlaps.
    """
    start = time.perf_counter()
    pending = None
    for batch in batches:
        if pending is not None:
            yield pending
        pending = batch
    if pending is not None:
        time.sleep(fraction * (time.perf_counter() - start))
        yield pending


def unbuildable_reason(loader: str, contract: Contract) -> str | None:
    """Why ``loader`` cannot honour ``contract`` (shown as the case's skip reason), or None."""
    if loader not in LOADERS:
        return f"unknown loader {loader!r}: choose one of {', '.join(LOADERS)}"
    if base_loader(loader) == "idg" and contract.cache != "none":
        return f"ImageDataGenerator has no cache: cache={contract.cache} is not offered by this loader"
    return None


@contextmanager
def open_pipeline(loader: str, index: DatasetIndex, contract: Contract) -> Iterator[Pipeline]:
    """Build ``loader``'s pipeline over ``index`` under ``contract``; its cache files are gone on exit."""
    reason = unbuildable_reason(loader, contract)
    if reason:
        raise ValueError(reason)
    module_name, function_name = LOADERS[loader]
    module = __import__(module_name, fromlist=[function_name])
    build = getattr(module, function_name)
    if contract.cache != "file":
        yield Pipeline(loader, contract, index, build(index, contract, None))
        return
    with cache_workspace(contract.cache_dir) as folder:
        prefix = folder / f"{loader}-{contract.placement}.tfcache"
        yield Pipeline(loader, contract, index, build(index, contract, prefix), cache_prefix=prefix)
