"""Run one epoch of a pipeline and count what came out; measure the machine's decode limit.

The timer only says how long something took; these functions also say *what* was done (images and batches
counted, never assumed), so a broken loader cannot post a fast time.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import tensorflow as tf

from pipelines.caches.diskstats import StorageTraffic
from pipelines.epoch.faults import PageFaults
from pipelines.loaders.contract import Contract
from pipelines.datasets import DatasetIndex
from pipelines.loaders import Pipeline
from pipelines.loaders.tfops import decode_resized, without_autotune
from pipelines.machine import available_cores


@dataclass(frozen=True)
class EpochRun:
    """One full pass over a pipeline.

    Attributes:
        images: images seen, counted batch by batch.
        batches: batches seen.
        seconds: from creating the iterator to the last batch.
        first_batch_s: from creating the iterator to the first batch (file listing, tracing, first decode):
            start-up, kept apart so a slow start is not hidden in images/s.
        overhead_s: time spent around the epoch but not in it (``model.fit``'s set-up and tear-down).
        storage: what the machine's disks did during the epoch (:mod:`pipelines.caches.diskstats`), where the
            harness measured it (cold and warm epochs of a case) and the kernel shows it.
        faults: this process's page faults and time in the kernel during the epoch (:mod:`pipelines.epoch.faults`),
            where the harness measured them: what filling a memory cache cost beyond the loader's own work.
    """

    images: int
    batches: int
    seconds: float
    first_batch_s: float
    overhead_s: float = 0.0
    storage: StorageTraffic | None = None
    faults: PageFaults | None = None
    # The exhausted iterator, in a list that pipelines.epoch.teardown.release_later empties: destroyed
    # after the timer stops and off the main thread (see run_epoch).
    spent: list[Any] = field(default_factory=list, repr=False, compare=False)

    @property
    def images_per_sec(self) -> float:
        return self.images / self.seconds if self.seconds > 0 else float("nan")


def run_epoch(pipeline: Pipeline) -> EpochRun:
    """Consume one whole epoch of ``pipeline``.

    Each batch is a computed value when the iterator hands it over (an eager tensor that tf.data has
    produced, or a NumPy array), so reading its shape does not skip work; no copy is made, as a copy would add
    time the model never spends.

    The epoch ends with its last batch. The exhausted iterator is returned inside the result (``spent``)
    rather than destroyed here: in TensorFlow 2.21 destroying a tf.data iterator can block until the
    autotuner's next wake-up, a tear-down cost that is not part of an epoch (:mod:`pipelines.epoch.teardown`).
    """
    start = time.perf_counter()
    first_batch_s = None
    images = batches = 0
    batches_iter = pipeline.epoch()
    for batch_images, _labels in batches_iter:
        if first_batch_s is None:
            first_batch_s = time.perf_counter() - start
        images += int(batch_images.shape[0])
        batches += 1
    seconds = time.perf_counter() - start
    return EpochRun(images, batches, seconds, first_batch_s if first_batch_s is not None else seconds,
                    spent=[batches_iter])


def on_threads(dataset: tf.data.Dataset, threads: int) -> tf.data.Dataset:
    """``dataset`` run by a private pool of ``threads`` threads, each op on one thread (no intra-op
    parallelism): ``threads=1`` is one core's worth of work, whatever the machine."""
    options = tf.data.Options()
    options.threading.private_threadpool_size = threads
    options.threading.max_intra_op_parallelism = 1
    return dataset.with_options(options)


class DecodeLimit:
    """Read + decode + resize alone, with no batching and no Python per image: the machine's reference.

    tf.data's map over the file names, drained by ``Dataset.reduce`` inside a ``tf.function`` (so the loop runs
    in C++), with the files in the page cache. ``threads=None``: a parallel map on every core, the most a
    tf.data pipeline of this recipe gets. ``threads=1``: one thread, no intra-op parallelism; times
    :func:`~pipelines.machine.available_cores` it is the machine's limit for this work, free of any pipeline's scheduling, so
    "% of limit" means the machine's. ``reduce`` destroys its iterator inside the timed pass, so the
    parallelism is set and tf.data's autotuning off (:func:`~pipelines.loaders.tfops.without_autotune`): with it
    on, a pass waited for the autotuner's next wake-up. Built and traced once; :meth:`epoch` is one timed pass.
    """

    def __init__(self, index: DatasetIndex, contract: Contract, threads: int | None = None) -> None:
        self.images = index.images
        names = tf.data.Dataset.from_tensor_slices([str(p) for p in index.paths])
        decoded = without_autotune(names.map(lambda p: decode_resized(p, contract),
                                             num_parallel_calls=threads or available_cores(), deterministic=False))
        if threads is not None:
            decoded = on_threads(decoded, threads)
        self._count = tf.function(lambda: decoded.reduce(tf.constant(0, tf.int64), lambda n, _: n + 1))
        self.run()  # trace, and bring the files into the page cache

    def run(self) -> int:
        seen = int(self._count())
        if seen != self.images:
            raise RuntimeError(f"decode limit saw {seen} images, expected {self.images}")
        return seen

    def epoch(self) -> EpochRun:
        """One timed pass over every image."""
        start = time.perf_counter()
        seen = self.run()
        seconds = time.perf_counter() - start
        return EpochRun(seen, 1, seconds, seconds)


@dataclass(frozen=True)
class Rate:
    """A measured speed with its noise: the median over rounds, and the rounds' relative half-range.

    Attributes:
        images_per_sec: images in an epoch / median seconds per epoch.
        spread: ``(max - min) / 2 / median`` of the rounds' epoch times (``0.04`` reads ``±4%``).
        epoch_s: median seconds per epoch.
    """

    images_per_sec: float
    spread: float
    epoch_s: float

    @classmethod
    def of(cls, timed: Any) -> Rate:
        """From a :class:`~pipelines.harness.rounds.TimedEpochs`."""
        return cls(timed.images_per_sec(), timed.spread(), timed.median_seconds())

    def times(self, factor: int) -> Rate:
        """``factor`` independent copies of this work at once (one thread's rate x cores); spread unchanged."""
        return Rate(self.images_per_sec * factor, self.spread, self.epoch_s / factor)
