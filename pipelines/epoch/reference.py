"""A reference workload timed beside every round of a case, so that a gate can divide the machine's drift out.

On a shared VM the whole machine runs slower for minutes at a time, by more than a regression worth catching
(docs/gate.md). A case's
round divided by a reference round measured right after it, in the same process, cancels what slowed both. The
reference must not run the code under test, or a regression in that code would slow both and cancel too: it
decodes and resizes the dataset's JPEGs with Pillow (libjpeg, the same kind of work), on every core, with no
TensorFlow and nothing from :mod:`pipelines.loaders`.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from PIL import Image

from pipelines.loaders.contract import Contract
from pipelines.datasets import DatasetIndex
from pipelines.epoch.run import EpochRun
from pipelines.machine import available_cores

#: Images the probe decodes per pass: enough for a pass of tens of milliseconds, the same for every dataset size.
PROBE_IMAGES = 64


class CpuProbe:
    """Pillow decode + resize of the first :data:`PROBE_IMAGES` files, one thread per core (Pillow releases the
    GIL while it decodes and resizes, so the threads run in parallel). :meth:`epoch` is one timed pass."""

    name = "pillow-decode"

    def __init__(self, index: DatasetIndex, contract: Contract) -> None:
        self.paths: tuple[Path, ...] = index.paths[:PROBE_IMAGES]
        height, width = contract.image_size
        self.size = (width, height)
        self.pool = ThreadPoolExecutor(available_cores(), thread_name_prefix="loaderbench-probe")
        self.epoch()  # page cache, thread start-up

    def _one(self, path: Path) -> int:
        with Image.open(path) as image:
            return image.convert("RGB").resize(self.size, Image.Resampling.BILINEAR).size[0]

    def epoch(self) -> EpochRun:
        start = time.perf_counter()
        seen = len(list(self.pool.map(self._one, self.paths)))
        seconds = time.perf_counter() - start
        return EpochRun(seen, 1, seconds, seconds)

    def close(self) -> None:
        self.pool.shutdown()
