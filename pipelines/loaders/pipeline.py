"""The built pipeline every benchmark and test handles, whatever the loader behind it."""

from __future__ import annotations

import math
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
    "tfdata": ("pipelines.loaders.tfdata", "build_tfdata_pipeline"),
    "kerasdir": ("pipelines.loaders.kerasdir", "build_kerasdir_pipeline"),
}

#: Human names, for tables and messages.
LOADER_TITLES: dict[str, str] = {
    "idg": "ImageDataGenerator.flow_from_directory",
    "tfdata": "tf.data from files",
    "kerasdir": "keras.utils.image_dataset_from_directory",
}


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

    def epoch(self) -> Iterator[tuple[Any, Any]]:
        """One full epoch of ``(images, labels)`` batches, produced as ``model.fit`` would produce them.

        Consume it whole: a file cache is only complete (and TensorFlow only quiet) after a full pass.
        """
        if self.cache_prefix is not None:
            clear_partial_cache(self.cache_prefix)  # a killed writer's lockfile would make TF refuse to start
        own_epoch: Callable[[], Iterator] | None = getattr(self.fit_input, "epoch", None)
        return own_epoch() if own_epoch else iter(self.fit_input)


def unbuildable_reason(loader: str, contract: Contract) -> str | None:
    """Why ``loader`` cannot honour ``contract`` (shown as the case's skip reason), or None."""
    if loader not in LOADERS:
        return f"unknown loader {loader!r}: choose one of {', '.join(LOADERS)}"
    if loader == "idg" and contract.cache != "none":
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
