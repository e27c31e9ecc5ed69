"""Every loader, declared once: what builds it and what it offers. Cases, skip reasons and reports read it;
a new loader is its module plus one declaration here."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pipelines.caches.modes import CACHE_MODES
from pipelines.options import Option
from pipelines.optional import install_hint, unusable


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
        requires: the optional package it needs (``grain``), if any; where it is not installed or fails to
            import, its cases are skipped naming ``extra``, the project extra that installs it.
        extra: the project extra (``pip install '.[grain]'``) that brings ``requires`` in.
        worker_processes: it loads in worker processes of its own, whose memory is sampled with the epochs
            (:mod:`pipelines.memory.workers`).
        reshuffles: with shuffling on, each epoch is a new order; ``False`` for a loader that shuffles once, as
            its users get it (Keras' ``format="grain"``: the same order every epoch).
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
    requires: str | None = None
    extra: str | None = None
    worker_processes: bool = False
    reshuffles: bool = True

    @property
    def base(self) -> str:
        """The loader this one belongs to (``idg-processes`` -> ``idg``)."""
        return self.variant_of or self.name

    def missing(self) -> str | None:
        """Why this loader cannot be built on this installation (its optional package is not installed, or
        fails to import), naming the extra that installs it; None where it can.

        The package is imported to tell (:func:`pipelines.optional.unusable`): ask where the loader is about to
        be built or its cases to run, not while collecting them.
        """
        if self.requires is None or (cause := unusable(self.requires)) is None:
            return None
        return (f"{self.label} needs the optional package {self.requires!r}, {cause}: "
                f"{install_hint(self.extra or self.requires)}")

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
                   "build_idg_processes_pipeline", caches=("none",), placement="float32", variant_of="idg",
                   worker_processes=True),
        LoaderSpec("tfdata", "tf.data", "pipelines.loaders.tfdata", "build_tfdata_pipeline"),
        LoaderSpec("tfdata-fast", "tf.data (fast decode)", "pipelines.loaders.tfdata", "build_tfdata_fast_pipeline",
                   caches=("none",), variant_of="tfdata", trained=False, approximate_decode=True),
        # The persistent caches (snapshot, save) are tf.data's answer to the same question as cache(file); one
        # tf.data loader measuring them is enough, and the extended group stays within minutes.
        LoaderSpec("kerasdir", "image_dataset_from_directory", "pipelines.loaders.kerasdir",
                   "build_kerasdir_pipeline", caches=STUDY_CACHES),
        LoaderSpec("tfrecord", "tf.data from TFRecord shards", "pipelines.loaders.tfrecord",
                   "build_tfrecord_pipeline", caches=STUDY_CACHES, extended=True),
        LoaderSpec("tfdata-service", "tf.data service", "pipelines.loaders.tfdata_service",
                   "build_tfdata_service_pipeline", caches=("none",), trained=False, on_service=True,
                   extended=True),
        # Grain (the grain extra): Keras' own format="grain" path and Grain's pipeline with worker processes.
        # Grain caches nothing across epochs, so neither lists a cache case.
        LoaderSpec("kerasdir-grain", "image_dataset_from_directory (Grain)", "pipelines.loaders.grain_folder",
                   "build_kerasdir_grain_pipeline", caches=("none",), extended=True, requires="grain", extra="grain", reshuffles=False),
        LoaderSpec("grain", "Grain", "pipelines.loaders.grain_folder", "build_grain_pipeline", caches=("none",),
                   extended=True, requires="grain", extra="grain", worker_processes=True),
        # NVIDIA DALI's CPU pipeline (the dali extra): no cache of its own; no training cases (pipelines/loaders/dali_folder.py).
        LoaderSpec("dali", "NVIDIA DALI (CPU)", "pipelines.loaders.dali_folder", "build_dali_pipeline", caches=("none",),
                   trained=False, extended=True, requires="nvidia.dali", extra="dali"),
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

LOADER = Option("--loader", "the loader that builds the pipeline", default="tfdata", choices=LOADERS)
