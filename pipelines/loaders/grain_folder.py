"""Grain, the loader Google recommends for JAX and multi-backend Keras, built the two ways its users build it for a
folder of images (the ``grain`` extra: ``pip install '.[grain]'``).

* ``kerasdir-grain``: ``keras.utils.image_dataset_from_directory(..., format="grain")``, as Keras documents it:
  Keras indexes the folder, shuffles the file names once (``MapDataset.shuffle``: the same order every epoch, as
  Keras users get it), decodes with PIL and resizes with Keras' own ``ops.image.resize`` (on the TensorFlow
  backend, TensorFlow's resize: the tf.data loader's pixels) in Grain's read threads (``ReadOptions``' defaults),
  and batches. The contract's tail follows, once a batch: pixels rounded to ``uint8``, normalised.
* ``grain``: Grain's own pipeline, as its performance guide builds one: a random-access source over the
  class-per-folder index, ``shuffle`` (a new permutation every epoch, Grain's epoch-aware shuffle), batches
  of the contract's size ending every epoch on a batch boundary (:class:`EpochBatches`), each image decoded,
  resized, rounded and normalised with PIL and NumPy, then ``to_iter_dataset(ReadOptions)`` and
  ``mp_prefetch`` -- worker processes (``MultiprocessingOptions(num_workers)``, one per core) each running its
  own read threads, the batches handed back in shared memory. One iterator serves every epoch
  (:class:`GrainEpochs`), so the workers start once. PIL resizes with its own filter (it antialiases when
  shrinking, as ImageDataGenerator does), so its pixels are ImageDataGenerator's, and differ from tf.data's by
  a measured tolerance (docs/loaders-and-caches.md).

Neither has a cache to offer (Grain caches nothing across epochs), so neither has cache cases. The worker
processes are spawned (Grain's choice), each watching the process that started it and exiting once it is gone
(:func:`~pipelines.cleanup.children.exit_with_parent`), so a ``kill -9`` of the run leaves none behind.

This module imports neither TensorFlow nor Keras at the top: Grain's spawned workers unpickle the decode
function and import this module, and each would otherwise pay TensorFlow's import (seconds, hundreds of MB).
"""

from __future__ import annotations

import multiprocessing
import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import grain
import numpy as np
from PIL import Image

from pipelines.cleanup.children import exit_with_parent
from pipelines.datasets import DatasetIndex
from pipelines.loaders.contract import Contract

#: PIL's resampling filter for each contract interpolation.
PIL_FILTERS = {"bilinear": Image.Resampling.BILINEAR, "nearest": Image.Resampling.NEAREST}

#: Read threads per worker process (``ReadOptions.num_threads``). Tried on 2 cores (coco2017's shape, warm
#: epochs): within their spreads 2-4 workers x 1-2 threads are one result, and 16 threads or threads alone (no
#: workers) are slower. Grain's default, 16, is sized for remote storage.
READ_THREADS = 2


#: Batches an epoch keeps to hand out again if it is left part-way: Keras' Grain adapter reads the first two
#: of an ``iter()`` to learn the shapes, then starts the epoch it trains on.
REPLAYED_BATCHES = 4


class GrainEpochs(grain.IterDataset):
    """Grain's pipeline as one stream of every epoch's batches, read by one iterator that lives as long as the
    pipeline -- its worker processes are spawned once, at the first batch, not once an epoch -- handed out an
    epoch at a time: each ``iter()`` (``model.fit``'s, through Keras' Grain adapter, or the harness') yields
    the next epoch's ``steps`` batches. An epoch left part-way is finished by the next ``iter()``: the batches
    it handed out are handed out again (up to :data:`REPLAYED_BATCHES`; beyond them the rest of that epoch is
    read and dropped), so every epoch is whole and epochs never straddle. :meth:`close` stops the workers."""

    def __init__(self, stream: grain.IterDataset, steps: int) -> None:
        super().__init__()
        self._stream, self._steps = stream, steps
        self._iterator = None
        self._open: _OneEpoch | None = None

    def __iter__(self) -> Iterator:
        if self._iterator is None:
            self._iterator = iter(self._stream)
        left = self._open
        if left is not None and not left.done:
            if left.served > len(left.kept):
                for _ in range(self._steps - left.served):  # too far in to replay: finish it unseen
                    next(self._iterator)
            else:
                self._open = _OneEpoch(self._iterator, self._steps, left.kept)
                return self._open
        self._open = _OneEpoch(self._iterator, self._steps, [])
        return self._open

    def close(self) -> None:
        if self._iterator is not None:
            self._iterator.close()
            self._iterator = None

    def __str__(self) -> str:
        return f"GrainEpochs(steps={self._steps})"


class _OneEpoch(grain.DatasetIterator):
    """One epoch's ``steps`` batches: those ``replay`` holds (an epoch left part-way), then the stream's. It holds
    the stream without making it a parent: Grain closes an iterator's parents with it (also when it is
    garbage-collected), which would stop the workers after every epoch."""

    def __init__(self, stream: grain.DatasetIterator, steps: int, replay: list) -> None:
        super().__init__()
        self._stream, self._steps, self.kept = stream, steps, list(replay)
        self.served = 0

    @property
    def done(self) -> bool:
        return self.served >= self._steps

    def __next__(self):
        if self.done:
            raise StopIteration
        if self.served < len(self.kept):
            batch = self.kept[self.served]
        else:
            batch = next(self._stream)
            if len(self.kept) < REPLAYED_BATCHES:
                self.kept.append(batch)
        self.served += 1
        if self.done:
            self.kept = []
        return batch

    def get_state(self) -> dict:
        return {"served": self.served}

    def set_state(self, state: dict) -> None:
        self.served = state["served"]


class Counted(grain.IterDataset):
    """``dataset`` with the images each of its iterators handed out counted: :meth:`images` is the most any one
    of them handed out -- ``model.fit``'s epoch, not the two batches Keras' Grain adapter reads first to learn
    the shapes."""

    def __init__(self, dataset: grain.IterDataset) -> None:
        super().__init__()
        self._dataset, self._counts = dataset, []

    def __iter__(self) -> Iterator:
        self._counts.append(0)
        return _Counting(iter(self._dataset), self._counts, len(self._counts) - 1)

    def images(self) -> int:
        return max(self._counts, default=0)


class _Counting(grain.DatasetIterator):
    def __init__(self, iterator: Iterator, counts: list[int], slot: int) -> None:
        super().__init__()
        self._iterator, self._counts, self._slot = iterator, counts, slot

    def __next__(self):
        batch = next(self._iterator)
        self._counts[self._slot] += len(batch[1])
        return batch

    def get_state(self) -> dict:
        return {}

    def set_state(self, state: dict) -> None:
        pass


class EpochBatches(grain.MapDataset):
    """Batch ``i`` of the stream is batch ``i % steps`` of epoch ``i // steps`` of ``items`` (repeated, so that
    Grain's shuffle gives each epoch its own order): epochs end on a batch boundary, with a short last batch, as
    the contract's do -- ``items.batch()`` after ``repeat()`` would mix two epochs in one batch. Each batch is
    loaded where Grain reads it (a worker's read threads)."""

    def __init__(self, items: grain.MapDataset, images: int, batch_size: int,
                 load: Callable[[tuple[str, int]], tuple[np.ndarray, np.ndarray]]) -> None:
        super().__init__(items)
        self._items, self._images, self._batch, self._load = items, images, batch_size, load
        self.steps = -(-images // batch_size)

    def __len__(self) -> int:
        return sys.maxsize

    def __getitem__(self, index):
        if isinstance(index, slice):
            return self.slice(index)
        epoch, step = divmod(index, self.steps)
        first = epoch * self._images + step * self._batch
        last = min(first + self._batch, (epoch + 1) * self._images)
        images, labels = zip(*(self._load(self._items[i]) for i in range(first, last)))
        return np.stack(images), np.stack(labels)

    def __str__(self) -> str:
        return f"EpochBatches(images={self._images}, batch_size={self._batch})"


class LoadImage:
    """``(path, label)`` -> ``(normalised float32 image, label)``: PIL decode and resize, pixels rounded to
    ``uint8`` as the contract's are, then scaled to [0, 1]. A class, so Grain's spawned workers unpickle it by
    reference to this module."""

    def __init__(self, contract: Contract, classes: int) -> None:
        self.size = (contract.image_size[1], contract.image_size[0])  # PIL: (width, height)
        self.resample = PIL_FILTERS[contract.interpolation]
        self.categorical = contract.label_mode == "categorical"
        self.classes = classes

    def __call__(self, item: tuple[str, int]) -> tuple[np.ndarray, np.ndarray]:
        path, label = item
        with Image.open(path) as image:
            pixels = np.asarray(image.convert("RGB").resize(self.size, self.resample), dtype=np.uint8)
        return normalised(pixels), encoded(label, self.categorical, self.classes)


def normalised(pixels: np.ndarray) -> np.ndarray:
    """``uint8`` pixels -> ``float32`` in [0, 1], divided as :func:`pipelines.loaders.tfops.normalise` divides
    (one correctly rounded division: the same bits)."""
    return pixels.astype(np.float32) / np.float32(255)


def encoded(labels, categorical: bool, classes: int) -> np.ndarray:
    """Labels as the contract gives them: ``int32`` class indices or one-hot ``float32``."""
    labels = np.asarray(labels, dtype=np.int32)
    return np.eye(classes, dtype=np.float32)[labels] if categorical else labels


def watch_parent(worker_index: int, worker_count: int) -> None:
    """``mp_prefetch``'s worker initialiser: exit once the process that spawned this worker is gone -- its pid
    as multiprocessing recorded it at the spawn, so a parent killed while this worker was still starting (it
    imports NumPy, PIL and Grain first) is noticed too, where ``os.getppid()`` would already be init's."""
    parent = multiprocessing.parent_process()
    exit_with_parent(parent.pid if parent is not None else os.getppid())


def build_grain_pipeline(index: DatasetIndex, contract: Contract, cache_prefix: Path | None = None) -> GrainEpochs:
    items = grain.MapDataset.source(list(zip([str(p) for p in index.paths], (int(y) for y in index.labels))))
    every_epoch = (items.shuffle(seed=contract.seed) if contract.shuffle else items).repeat()
    batches = EpochBatches(every_epoch, index.images, contract.batch_size,
                           LoadImage(contract, len(index.class_names)))
    workers = contract.workers
    stream = batches.to_iter_dataset(grain.ReadOptions(num_threads=READ_THREADS,
                                                       prefetch_buffer_size=READ_THREADS))
    stream = stream.mp_prefetch(grain.MultiprocessingOptions(num_workers=workers, per_worker_buffer_size=2),
                                worker_init_fn=watch_parent)
    return GrainEpochs(stream, batches.steps)


def build_kerasdir_grain_pipeline(index: DatasetIndex, contract: Contract,
                                  cache_prefix: Path | None = None) -> grain.IterDataset:
    from pipelines.loaders.kerasdir import from_directory  # Keras, and TensorFlow under it: here only

    batches = from_directory(index, contract, output="grain")
    categorical, classes = contract.label_mode == "categorical", len(index.class_names)

    def tail(batch):
        images, labels = batch
        pixels = np.clip(np.round(np.asarray(images)), 0, 255).astype(np.uint8)
        return normalised(pixels), encoded(np.asarray(labels), categorical, classes)

    return batches.map(tail)
