"""``ImageDataGenerator.flow_from_directory``: the study's baseline, with the worker options its users switch on.

Keras 3 no longer exports ``ImageDataGenerator``; the ``tf_keras`` package (Keras 2, maintained by the
TensorFlow team for exactly this) is its supported home. The iterator is wrapped as a Keras 3 ``PyDataset``, so
``model.fit`` loads batches in parallel workers, as users run it:

* ``idg``: ``workers`` threads (PIL decodes and resizes without holding the GIL);
* ``idg-processes``: ``workers`` processes (``use_multiprocessing=True``, forked as Keras forks them): no GIL
  at all, but every batch is pickled back to the trainer (32 x 224 x 224 x 3 float32 = 19 MB).

:meth:`IdgBatches.epoch` gives benchmarks the same parallelism, with the same bounded look-ahead as
``model.fit``'s queue. Both variants are timed; the faster one is the baseline the others are compared with.

It has no cache: a memory or file cache is refused, not faked.

Forked workers wait for work on a queue, and nothing tells them when the benchmark process is killed outright
(``kill -9``, an OOM kill): the workers of both pools were seen staying behind, idle, each holding its memory.
So every process :mod:`multiprocessing` starts while an ``idg-processes`` pipeline exists -- this module's pool
for :meth:`IdgBatches.epoch`, Keras' enqueuer pool under ``model.fit`` -- watches its parent from a thread and
exits once it is gone (:func:`~pipelines.cleanup.children.exit_with_parent`): a 0.5 s poll, nothing on the
batches' path.
"""

from __future__ import annotations

import multiprocessing
import multiprocessing.util
import warnings
from collections import deque
from collections.abc import Iterator
from concurrent.futures import Executor, ProcessPoolExecutor, ThreadPoolExecutor
from contextlib import redirect_stdout
from io import StringIO

import keras
import numpy as np
from tf_keras.preprocessing.image import ImageDataGenerator

from pipelines.cleanup.children import exit_with_parent
from pipelines.loaders.contract import Contract
from pipelines.datasets import DatasetIndex

_FORKED: dict[str, IdgBatches] = {}  # the dataset a forked worker serves (set by its initialiser)
_WATCHING: list[int] = []  # in a forked worker: the parent it watches (one watch, however many datasets)


class IdgBatches(keras.utils.PyDataset):
    """A ``DirectoryIterator`` as a Keras 3 ``PyDataset`` loading on ``contract.workers`` threads or processes."""

    def __init__(self, index: DatasetIndex, contract: Contract, processes: bool = False) -> None:
        super().__init__(workers=contract.workers, use_multiprocessing=processes,
                         max_queue_size=2 * contract.workers)
        self.label_mode = contract.label_mode
        generator = ImageDataGenerator(rescale=1.0 / 255, dtype="float32")
        with redirect_stdout(StringIO()):  # it prints "Found N images..."; the index already said so
            self.iterator = generator.flow_from_directory(
                str(index.root),
                target_size=contract.image_size,
                color_mode="rgb",
                classes=list(index.class_names),
                class_mode="sparse" if contract.label_mode == "int" else "categorical",
                batch_size=contract.batch_size,
                shuffle=contract.shuffle,
                seed=contract.seed,
                interpolation=contract.interpolation,
                follow_links=False,
            )
        # The epoch's order drawn now, before any worker: Keras' iterator draws it lazily in the first
        # __getitem__, and two threads arriving together each drew one (seeded by a batch count they race on),
        # so that the first epoch's batches came from two orders, an image twice and another never.
        np.random.seed(self.iterator.seed + self.iterator.total_batches_seen)  # as Keras seeds that draw
        self.iterator._set_index_array()
        # Images in each batch as it is handed out, in memory shared with forked workers: a benchmark checks
        # that a whole epoch was served. Per batch index, because model.fit also loads a batch or two to learn
        # the data's shapes.
        self.served = multiprocessing.get_context("fork").Array("i", len(self.iterator), lock=False)
        if processes:
            # Run in every process multiprocessing starts while this dataset lives (Keras' pool starts its
            # workers itself, with an initializer of its own): they exit when the process that started them does.
            multiprocessing.util.register_after_fork(self, _exit_with_parent)

    def __len__(self) -> int:
        return len(self.iterator)

    def __getitem__(self, i: int) -> tuple[np.ndarray, np.ndarray]:
        images, labels = self.iterator[i]
        self.served[i] = len(images)
        return images, labels.astype(np.int32) if self.label_mode == "int" else labels

    def images_served(self) -> int:
        return sum(self.served)

    def forget_served(self) -> None:
        self.served[:] = [0] * len(self.served)

    def on_epoch_end(self) -> None:
        self.iterator.on_epoch_end()  # a new shuffle for the next epoch

    def epoch(self) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """One epoch in order, ``workers`` x 2 batches ahead at most, as ``model.fit``'s own queue loads them."""
        ahead = self.workers * 2
        with self._executor() as pool:
            pending: deque = deque()
            for i in range(len(self)):
                pending.append(pool.submit(_load_batch, i) if self.use_multiprocessing
                               else pool.submit(self.__getitem__, i))
                if len(pending) > ahead:
                    yield pending.popleft().result()
            while pending:
                yield pending.popleft().result()
        self.on_epoch_end()

    def _executor(self) -> Executor:
        if not self.use_multiprocessing:
            return ThreadPoolExecutor(self.workers)
        with warnings.catch_warnings():
            # Python 3.12+ warns that forking a multi-threaded process may deadlock; Keras forks its workers the
            # same way (use_multiprocessing=True), and a forked worker here runs PIL and NumPy only.
            warnings.filterwarnings("ignore", "This process .* is multi-threaded", DeprecationWarning)
            return ProcessPoolExecutor(self.workers, mp_context=multiprocessing.get_context("fork"),
                                       initializer=_adopt, initargs=(self,))


def _exit_with_parent(batches: IdgBatches) -> None:
    """In a worker just started: exit once the process that started it is gone (its pid as recorded when the
    worker was started, so a parent killed before this runs is noticed too)."""
    parent = multiprocessing.parent_process()
    if parent is not None and not _WATCHING:
        _WATCHING.append(parent.pid)
        exit_with_parent(parent.pid)


def _adopt(batches: IdgBatches) -> None:
    _FORKED["batches"] = batches


def _load_batch(i: int) -> tuple[np.ndarray, np.ndarray]:
    return _FORKED["batches"][i]


def build_idg_pipeline(index: DatasetIndex, contract: Contract, cache_prefix: object = None,
                       processes: bool = False) -> IdgBatches:
    if contract.cache_spec.caches:
        raise ValueError(
            f"ImageDataGenerator has no cache: cache={contract.cache!r} is not buildable for loader 'idg'"
        )
    return IdgBatches(index, contract, processes=processes)


def build_idg_processes_pipeline(index: DatasetIndex, contract: Contract, cache_prefix: object = None) -> IdgBatches:
    return build_idg_pipeline(index, contract, cache_prefix, processes=True)
