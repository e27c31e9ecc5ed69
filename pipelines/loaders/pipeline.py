"""The built pipeline every benchmark and test handles, whatever the loader behind it."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pipelines.cache import cache_workspace, clear_partial_cache
from pipelines.config import CACHE_MODES, Contract
from pipelines.datasets import DatasetIndex

@dataclass(frozen=True)
class LoaderSpec:
    """A loader, declared once: what builds it and what it offers. Cases, skip reasons and reports read it.

    Attributes:
        name: the loader's name in case ids.
        label: its name for people (skip reasons, reports).
        module, builder: where its builder function lives; imported lazily (ImageDataGenerator pulls in tf_keras).
        caches: the cache modes it offers.
        listed_caches: cache modes it lists as cases even without offering them, so that a reader sees the
            case skipped with its reason instead of missing (ImageDataGenerator's memory and file caches).
        placement: the one placement it yields whatever the cache (ImageDataGenerator: ``float32``); ``None``
            offers both placements with a cache and ``uint8`` without.
        variant_of: the loader this one varies (built another way its users build it), or ``None``.
        trained: training cases exist for it (a decode variant is a throughput question: the model, not the
            decode, sets a CPU epoch).
        approximate_decode: its pixels differ from the exact decode by design; the difference is measured and
            reported with its cases.
        on_service: its pipeline runs on a tf.data service (``Contract.service_address``); the suite starts a
            local one for its cases unless given an address.
        extended: its cases belong to the extended group (``--extended``), outside the default run's budget.
    """

    name: str
    label: str
    module: str
    builder: str
    caches: tuple[str, ...] = CACHE_MODES
    listed_caches: tuple[str, ...] = ()
    placement: str | None = None
    variant_of: str | None = None
    trained: bool = True
    approximate_decode: bool = False
    on_service: bool = False
    extended: bool = False

    @property
    def base(self) -> str:
        """The loader this one belongs to (``idg-processes`` -> ``idg``)."""
        return self.variant_of or self.name

    def build_function(self) -> Callable[..., Any]:
        return getattr(__import__(self.module, fromlist=[self.builder]), self.builder)


#: The cache modes the study compared: ImageDataGenerator lists them (skipped, with the reason) next to tf.data's.
STUDY_CACHES: tuple[str, ...] = ("none", "memory", "file")

#: Every loader. Variants are timed with no cache: a faster decode changes the work a warm cached epoch skips
#: anyway, and ImageDataGenerator's worker processes have no cache to offer.
LOADER_SPECS: dict[str, LoaderSpec] = {
    spec.name: spec
    for spec in (
        LoaderSpec("idg", "ImageDataGenerator", "pipelines.loaders.idg", "build_idg_pipeline",
                   caches=("none",), listed_caches=STUDY_CACHES, placement="float32"),
        LoaderSpec("idg-processes", "ImageDataGenerator (processes)", "pipelines.loaders.idg",
                   "build_idg_processes_pipeline", caches=("none",), placement="float32", variant_of="idg"),
        LoaderSpec("tfdata", "tf.data", "pipelines.loaders.tfdata", "build_tfdata_pipeline"),
        LoaderSpec("tfdata-fast", "tf.data (fast decode)", "pipelines.loaders.tfdata", "build_tfdata_fast_pipeline",
                   caches=("none",), variant_of="tfdata", trained=False, approximate_decode=True),
        # The persistent caches (snapshot, save) are tf.data's answer to the same question as cache(file); one
        # tf.data loader measuring them is enough, and the extended group stays within minutes.
        LoaderSpec("kerasdir", "image_dataset_from_directory", "pipelines.loaders.kerasdir",
                   "build_kerasdir_pipeline", caches=STUDY_CACHES),
        LoaderSpec("tfrecord", "tf.data from TFRecord shards", "pipelines.loaders.tfrecord",
                   "build_tfrecord_pipeline", caches=STUDY_CACHES, extended=True),
        LoaderSpec("tfdata-service", "tf.data service", "pipelines.loaders.service",
                   "build_tfdata_service_pipeline", caches=("none",), trained=False, on_service=True,
                   extended=True),
    )
}

#: Loader names, in the order cases run (the baseline first, so that later cases can compare with it).
LOADERS: tuple[str, ...] = tuple(LOADER_SPECS)

#: The study's baseline: speed-ups ("vs idg") are against the faster of it and its variants.
BASELINE_LOADER = "idg"


def base_loader(loader: str) -> str:
    """The loader a variant belongs to (``idg-processes`` -> ``idg``); unknown names are their own."""
    spec = LOADER_SPECS.get(loader)
    return spec.base if spec else loader


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
        yield Pipeline(loader, contract, index, build(index, contract, None))
        return
    with cache_workspace(contract.cache_dir) as folder:
        prefix = folder / f"{loader}-{contract.placement}.tfcache"
        yield Pipeline(loader, contract, index, build(index, contract, prefix), cache_prefix=prefix)
