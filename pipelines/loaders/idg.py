"""``ImageDataGenerator.flow_from_directory``: the study's baseline.

Keras 3 no longer exports ``ImageDataGenerator``; the ``tf_keras`` package (Keras 2, maintained by the
TensorFlow team for exactly this) is its supported home. The iterator is wrapped as a Keras 3
``PyDataset`` so ``model.fit`` loads batches in worker threads -- the best this loader can do (PIL decodes
and resizes without holding the GIL) -- and :meth:`IdgBatches.epoch` gives benchmarks the same parallelism.

It has no cache: a memory or file cache is refused, not faked.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import redirect_stdout
from io import StringIO
from threading import Lock

import keras
import numpy as np
from tf_keras.preprocessing.image import ImageDataGenerator

from pipelines.config import Contract
from pipelines.datasets import DatasetIndex


class IdgBatches(keras.utils.PyDataset):
    """A ``DirectoryIterator`` as a Keras 3 ``PyDataset``: ``model.fit`` runs it on ``contract.workers`` threads."""

    def __init__(self, index: DatasetIndex, contract: Contract) -> None:
        super().__init__(workers=contract.workers, use_multiprocessing=False, max_queue_size=2 * contract.workers)
        self.label_mode = contract.label_mode
        # Batch index -> images, as batches are handed out: a benchmark checks that a whole epoch was served.
        # Distinct indices, because model.fit also loads a batch or two to learn the data's shapes.
        self.served: dict[int, int] = {}
        self._served_lock = Lock()
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

    def __len__(self) -> int:
        return len(self.iterator)

    def __getitem__(self, i: int) -> tuple[np.ndarray, np.ndarray]:
        images, labels = self.iterator[i]
        with self._served_lock:
            self.served[i] = len(images)
        return images, labels.astype(np.int32) if self.label_mode == "int" else labels

    def on_epoch_end(self) -> None:
        self.iterator.on_epoch_end()  # a new shuffle for the next epoch

    def epoch(self) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """One epoch in order, loaded ``workers`` batches at a time, as ``model.fit``'s own queue does."""
        ahead = self.workers * 2
        with ThreadPoolExecutor(self.workers) as pool:
            pending: deque = deque()
            for i in range(len(self)):
                pending.append(pool.submit(self.__getitem__, i))
                if len(pending) > ahead:
                    yield pending.popleft().result()
            while pending:
                yield pending.popleft().result()
        self.on_epoch_end()


def build_idg_pipeline(index: DatasetIndex, contract: Contract, cache_prefix: object = None) -> IdgBatches:
    if contract.cache != "none":
        raise ValueError(
            f"ImageDataGenerator has no cache: cache={contract.cache!r} is not buildable for loader 'idg'"
        )
    return IdgBatches(index, contract)
