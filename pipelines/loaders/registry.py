"""Every loader, declared once: what builds it and what it offers. Cases, skip reasons and reports read it;
a new loader is its module plus one declaration here -- or, for a team's own pipeline, a declaration in its own
package (:mod:`pipelines.loaders.declared`), added after ours."""

from __future__ import annotations

from pipelines.loaders.spec import LoaderSpec
from pipelines.loaders.declared import declared_loaders
from pipelines.options import Option


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
        # The same pipeline on two workers of half a core each, every one on an emulated host (needs root).
        LoaderSpec("tfdata-service-hosts", "tf.data service (2 emulated hosts)", "pipelines.loaders.tfdata_service",
                   "build_tfdata_service_pipeline", caches=("none",), trained=False, on_service=True,
                   emulated_hosts=2, variant_of="tfdata-service", extended=True),
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

#: Loaders declared outside this package (:mod:`pipelines.loaders.declared`), after ours; those left out, and why.
OWN_LOADERS, REFUSED_LOADERS = declared_loaders(LOADER_SPECS)
LOADER_SPECS.update(OWN_LOADERS)

#: Loader names, in the order cases run (the baseline first, so that later cases can compare with it).
LOADERS: tuple[str, ...] = tuple(LOADER_SPECS)

#: The study's baseline: speed-ups ("vs idg") are against the faster of it and its variants.
BASELINE_LOADER = "idg"


def base_loader(loader: str) -> str:
    """The loader a variant belongs to (``idg-processes`` -> ``idg``); unknown names are their own."""
    spec = LOADER_SPECS.get(loader)
    return spec.base if spec else loader

LOADER = Option("--loader", "the loader that builds the pipeline", default="tfdata", choices=LOADERS)
