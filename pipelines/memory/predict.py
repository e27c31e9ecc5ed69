"""What a cache will cost, before anything is decoded: the arithmetic behind the study's crash and its 90 GB.

A tf.data cache holds each element as decoded tensors: ``height x width x 3`` values of the placement's dtype
(1 byte for ``uint8``, 4 for ``float32``) plus the label (an int32, 4 bytes), plus a per-element overhead
measured once on this TensorFlow (``CacheSpec.element_overhead`` in ``pipelines/caches/modes.py``). JPEG bytes
play no part: a 150 KB photo and a 15
KB one both become 224 x 224 x 3 x 4 = 602,112 bytes of float32, which is why the study's file cache was 5x
its JPEGs.
"""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import psutil

from pipelines.caches.modes import CACHE_SPECS, CacheMode, CacheSpec
from pipelines.loaders.contract import Contract, Placement
from pipelines.units import format_bytes
from pipelines.options import Option
from pipelines.values import size

DTYPE_BYTES: dict[str, int] = {"uint8": 1, "float32": 4}
LABEL_BYTES = 4  # labels are cached as int32; one-hot encoding happens after the cache

#: RAM a running pipeline holds besides its cache: prefetched batches, decode buffers, allocator retention.
#: Measured as RSS growth over prediction while filling memory caches of 400-1,500 images: 60-250 MB at batch 32.
WORKING_SET_BYTES = 256 * 10**6

#: A memory cache case runs only when its cache x SAFETY_MARGIN + WORKING_SET_BYTES fits.
SAFETY_MARGIN = 1.25


RAM_BUDGET = Option("--ram-budget", "RAM an in-memory cache may use, e.g. 16GB; a cache predicted to need more is "
                    "skipped with the reason", parse=size, metavar="SIZE", default_text="the RAM available now")


@dataclass(frozen=True)
class CachePrediction:
    """Predicted size of one cache.

    Attributes:
        cache: ``memory`` or ``file``.
        placement: ``uint8`` or ``float32``.
        images: elements cached.
        bytes_per_image: tensor bytes of one element (image + label).
        total_bytes: everything the cache holds, overhead included.
        shuffle_buffer_bytes: what the shuffle after the cache holds (RAM of its own unless the cache is in RAM).
    """

    cache: CacheMode
    placement: Placement
    images: int
    bytes_per_image: int
    total_bytes: int
    shuffle_buffer_bytes: int

    @property
    def spec(self) -> CacheSpec:
        return CACHE_SPECS[self.cache]

    @property
    def ram_bytes(self) -> int:
        """RAM the case needs for its caching: a memory cache itself, or the shuffle buffer after a cache that
        is not in RAM. Over a memory cache the buffer holds the cached tensors themselves, not copies: in fresh
        processes RSS grows the same with shuffling on and off, where counting the buffer would add its whole
        size (``tests/test_memory.py`` checks it)."""
        return self.total_bytes if self.spec.in_ram else self.shuffle_buffer_bytes


def predict_cache(images: int, contract: Contract) -> CachePrediction:
    """The cache ``contract`` describes, over ``images`` images."""
    if not contract.cache_spec.caches:
        raise ValueError(f"cache={contract.cache!r} caches nothing: there is nothing to predict")
    height, width = contract.image_size
    per_image = height * width * 3 * DTYPE_BYTES[contract.placement] + LABEL_BYTES
    total = images * (per_image + contract.cache_spec.element_overhead)
    shuffle = min(images, contract.shuffle_buffer) * per_image if contract.shuffle else 0
    return CachePrediction(contract.cache, contract.placement, images, per_image, total, shuffle)


def available_ram() -> int:
    """RAM the operating system can give now without swapping (psutil's ``available``)."""
    return psutil.virtual_memory().available


def exceeds_budget(prediction: CachePrediction, budget: int) -> str | None:
    """A reason to skip, giving predicted and available bytes, or None when the case fits."""
    needed = ram_needed(prediction)
    if not prediction.spec.in_ram or needed <= budget:
        return None
    return (
        f"exceeds RAM: the {prediction.placement} memory cache of {prediction.images:,} images is predicted at "
        f"{format_bytes(prediction.total_bytes)} ({prediction.total_bytes:,} bytes; needs {needed:,} with a "
        f"x{SAFETY_MARGIN} margin and the working set) but {format_bytes(budget)} "
        f"({budget:,} bytes) is available"
    )


def free_disk(cache_dir: Path | None) -> int:
    """Free bytes where file caches will be written (``cache_dir``, or the system's temporary folder)."""
    folder = Path(cache_dir or tempfile.gettempdir()).expanduser()
    while not folder.exists() and folder != folder.parent:  # --cache-dir may not exist yet: its parent's disk
        folder = folder.parent
    return shutil.disk_usage(folder).free


def exceeds_disk(prediction: CachePrediction, free: int, where: Path | None = None) -> str | None:
    """A reason to skip a file cache larger than the free disk space, giving both numbers, or None."""
    if not prediction.spec.on_disk or prediction.total_bytes <= free:
        return None
    place = where or Path(tempfile.gettempdir())
    return (
        f"exceeds disk: the {prediction.placement} file cache of {prediction.images:,} images is predicted at "
        f"{format_bytes(prediction.total_bytes)} ({prediction.total_bytes:,} bytes) but {format_bytes(free)} "
        f"({free:,} bytes) is free in {place} -- choose another --cache-dir"
    )


def ram_needed(prediction: CachePrediction) -> int:
    """Bytes of RAM a case is allowed to start with: its caching RAM with margin, plus the working set."""
    return int(prediction.ram_bytes * SAFETY_MARGIN) + WORKING_SET_BYTES
