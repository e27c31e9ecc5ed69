"""NVIDIA DALI, the loader a GPU user reaches for, on its CPU pipeline (the ``dali`` extra:
``pip install '.[dali]'``, Linux on x86_64).

Built as DALI's own examples build one for a class-per-folder tree: ``fn.readers.file`` over the dataset's
index (its paths and labels, so the labels are the suite's), ``fn.decoders.image`` on the CPU (libjpeg-turbo;
PNGs too), ``fn.resize`` to the contract's size with its interpolation and no antialiasing (as
``tf.image.resize`` does), ``fn.crop_mirror_normalize`` to ``float32`` in [0, 1] and ``fn.one_hot`` for
categorical labels -- all inside DALI's own thread pool (one thread per core) and its prefetch queue. The reader
reshuffles the whole file list after every epoch (``shuffle_after_epoch``: every image once an epoch) and pads
the last batch with repeats, which :class:`DaliEpochs` cuts off, so an epoch ends on the contract's short last
batch.

It has no cache to offer, and no training cases: without DALI's TensorFlow plugin (compiled against one
TensorFlow release) Keras can only take its batches through a Python generator, which is not how DALI users
train. On a GPU machine DALI users decode with ``device="mixed"`` (nvJPEG); this module keeps the CPU decode
everywhere, so its numbers compare with the other CPU loaders.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
from nvidia.dali import fn, pipeline_def, types

from pipelines.datasets import DatasetIndex
from pipelines.loaders.contract import Contract

#: DALI's interpolation for each contract interpolation.
DALI_INTERPOLATION = {"bilinear": types.INTERP_LINEAR, "nearest": types.INTERP_NN}

#: ``device_id`` of a CPU-only pipeline: no GPU is touched. DALI 2.4 takes ``None``; its ``types.CPU_ONLY_DEVICE_ID``
#: (-99999) is read as a GPU's id and fails without CUDA ("You are trying to create a GPU DALI pipeline").
CPU_ONLY = None

#: DALI's prefetch queue (its default). Tried on 2 cores (coco2017's shape, warm epochs, alternated): 2 or 3
#: threads x queue 2 or 4 x normalising in DALI or in NumPy after it are one result within their spreads. There
#: the bilinear resize is DALI's slowest stage, slower than its decode (nearest is faster).
PREFETCH_QUEUE = 2


@pipeline_def
def _folder_pipeline(paths: list[str], labels: list[int], contract: Contract, classes: int):
    files, label = fn.readers.file(files=paths, labels=labels, shuffle_after_epoch=contract.shuffle,
                                   seed=contract.seed, pad_last_batch=True, name="reader")
    images = fn.decoders.image(files, device="cpu", output_type=types.RGB)
    height, width = contract.image_size
    images = fn.resize(images, resize_x=width, resize_y=height, interp_type=DALI_INTERPOLATION[contract.interpolation],
                       antialias=False)
    images = fn.crop_mirror_normalize(images, dtype=types.FLOAT, output_layout="HWC", mean=[0.0] * 3,
                                      std=[255.0] * 3)
    if contract.label_mode == "categorical":
        label = fn.one_hot(label, num_classes=classes)
    else:
        label = fn.cast(label, dtype=types.INT32)
    return images, fn.reshape(label, shape=[classes] if contract.label_mode == "categorical" else [])


class DaliEpochs:
    """A built DALI pipeline handing out whole epochs of ``(images, labels)`` NumPy batches: ``steps`` runs of
    the pipeline, the last one cut to the images left (the reader padded it with repeats)."""

    def __init__(self, pipe, images: int, batch_size: int) -> None:
        self._pipe, self._images, self._batch = pipe, images, batch_size
        self.steps = -(-images // batch_size)

    def epoch(self) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        for step in range(self.steps):
            images, labels = self._pipe.run()
            keep = min(self._batch, self._images - step * self._batch)
            yield images.as_array()[:keep], labels.as_array()[:keep]

    __iter__ = epoch

    def close(self) -> None:
        self._pipe = None  # DALI stops its threads when the pipeline is destroyed


def build_dali_pipeline(index: DatasetIndex, contract: Contract, cache_prefix: Path | None = None) -> DaliEpochs:
    pipe = _folder_pipeline(paths=[str(p) for p in index.paths], labels=[int(y) for y in index.labels],
                            contract=contract, classes=len(index.class_names), batch_size=contract.batch_size,
                            num_threads=contract.workers, device_id=CPU_ONLY, seed=contract.seed,
                            prefetch_queue_depth=PREFETCH_QUEUE)
    pipe.build()
    return DaliEpochs(pipe, index.images, contract.batch_size)
