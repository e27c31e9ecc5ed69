"""Before a declared loader is timed: does its pipeline keep the contract? One epoch of the run's dataset,
shuffle off: batches of ``(images, labels)`` of the contract's shape and type, every image once (no more, no
fewer), the labels the dataset's in its order, and -- unless the loader declares its own augmentation -- the
pixels of :data:`SAMPLE_IMAGES` images spread over it within :data:`PIXEL_TOLERANCE` of the exact decode's. A
broken builder gets one line naming it and what was wrong (:func:`check_loader`), and its cases fail with that
line before any timing; the other cases run. The whole dataset, not a part: a builder may read the folder itself.

A pipeline that never ends is stopped at the first image past the dataset's; one that blocks is given up after
:func:`wait_for` seconds (its thread is left behind, a daemon, and the line says so).
"""

from __future__ import annotations

import threading
import types
from collections import Counter
from contextlib import ExitStack

import numpy as np

from pipelines.datasets import DatasetIndex
from pipelines.loaders.contract import Contract
from pipelines.loaders.pipeline import open_pipeline
from pipelines.loaders.registry import LOADER_SPECS

#: Mean absolute difference from the exact decode a declared loader's pixels may show, in levels of 255: above
#: the 4.2 ImageDataGenerator's PIL resize shows on coco2017's shape (tests/test_loaders.py).
PIXEL_TOLERANCE = 5.0
#: Seconds the check waits for an epoch before it gives up on a pipeline that blocks, plus a second for every
#: :data:`SLOWEST_IMAGES_PER_S` images (ImageDataGenerator on the coco2017 shape: about 200 img/s on 2 cores).
WAIT_S = 120.0
SLOWEST_IMAGES_PER_S = 50
#: Images whose pixels are compared: two full batches and a short one at the default batch size.
SAMPLE_IMAGES = 69


class Broken(Exception):
    """What was wrong with a declared loader's pipeline, in one line."""


def sampled(images: int, count: int = SAMPLE_IMAGES) -> list[int]:
    """Up to ``count`` positions of an epoch of ``images``, spread evenly over it (every class)."""
    return list(range(0, images, max(images // count, 1)))[:count]


def wait_for(images: int) -> float:
    """Seconds to wait for an epoch of ``images`` before calling the pipeline blocked."""
    return WAIT_S + images / SLOWEST_IMAGES_PER_S


def check_loader(loader: str, index: DatasetIndex, contract: Contract, wait_s: float | None = None) -> str | None:
    """Why ``loader``'s pipeline under ``contract`` breaks it, one line naming the builder; ``None`` if it keeps
    it. ``wait_s``: how long to wait for its epoch (default :func:`wait_for`)."""
    spec = LOADER_SPECS[loader]
    name = f"{loader} ({spec.module}:{spec.builder})"
    outcome: list[str | None] = []
    wait_s = wait_for(index.images) if wait_s is None else wait_s

    def run() -> None:
        try:
            _check(loader, index, contract.with_(shuffle=False))
            outcome.append(None)
        except Broken as broken:
            outcome.append(str(broken))
        except Exception as error:  # the user's builder raised: its message, on one line
            outcome.append(f"its pipeline raised {type(error).__name__}: {_one_line(error)}")

    worker = threading.Thread(target=run, name=f"check {loader}", daemon=True)
    worker.start()
    worker.join(wait_s)
    if worker.is_alive():
        return f"{name}: no epoch of {index.images} images within {wait_s:.0f} s (it blocks); left running"
    return f"{name}: {outcome[0]}" if outcome[0] else None


def _one_line(error: BaseException) -> str:
    return " ".join(str(error).split())[:300] or "(no message)"


def _check(loader: str, index: DatasetIndex, contract: Contract) -> None:
    spec = LOADER_SPECS[loader]
    try:
        spec.build_function()
    except Exception as error:
        raise Broken(f"cannot be imported: {type(error).__name__}: {_one_line(error)}") from None
    with ExitStack() as stack:
        try:
            pipeline = stack.enter_context(open_pipeline(loader, index, contract))
        except Exception as error:
            raise Broken(f"its builder raised {type(error).__name__}: {_one_line(error)}") from None
        if isinstance(pipeline.fit_input, types.GeneratorType):
            raise Broken("returned a generator, which its first epoch uses up: return a tf.data.Dataset, a "
                         "keras.utils.PyDataset, or an iterable whose every iter() is a new epoch")
        images, labels = _epoch(pipeline.epoch(), index, contract)
    _check_labels(labels, index)
    if not spec.augmented:
        _check_pixels(images, index, contract)


def _epoch(batches, index: DatasetIndex, contract: Contract) -> tuple[dict[int, np.ndarray], list[int]]:
    """Every batch checked for shape and type as it comes; the :func:`sampled` images by position, and every
    label."""
    height, width = contract.image_size
    kept = set(sampled(index.images))
    images: dict[int, np.ndarray] = {}
    labels: list[int] = []
    for batch in batches:
        if not isinstance(batch, (tuple, list)) or len(batch) != 2:
            raise Broken(f"a batch is a {type(batch).__name__}, not a pair (images, labels)")
        x, y = np.asarray(batch[0]), np.asarray(batch[1])
        if x.ndim != 4 or x.shape[1:] != (height, width, 3):
            raise Broken(f"images of shape {x.shape}, expected (batch, {height}, {width}, 3)")
        if x.dtype != np.float32:
            raise Broken(f"images of dtype {x.dtype}, expected float32 in [0, 1]")
        if not 0 < len(x) <= contract.batch_size or len(y) != len(x):
            raise Broken(f"a batch of {len(x)} images and {len(y)} labels, expected 1 to {contract.batch_size} "
                         "of each")
        if x.size and (x.min() < 0 or x.max() > 1):
            raise Broken(f"pixel values from {x.min():g} to {x.max():g}, expected 0 to 1")
        images.update((len(labels) + i, image) for i, image in enumerate(x) if len(labels) + i in kept)
        labels.extend(_labels(y, contract))
        if len(labels) > index.images:
            raise Broken(f"an epoch gave more than the dataset's {index.images} images (it repeats, or never ends)")
    if len(labels) < index.images:
        raise Broken(f"an epoch gave {len(labels)} of the dataset's {index.images} images (it drops some)")
    return images, labels


def _labels(y: np.ndarray, contract: Contract) -> list[int]:
    if contract.label_mode == "categorical":
        if y.ndim != 2:
            raise Broken(f"labels of shape {y.shape}, expected one-hot (batch, classes)")
        return [int(i) for i in y.argmax(axis=1)]
    if y.ndim != 1 or not np.issubdtype(y.dtype, np.integer):
        raise Broken(f"labels of shape {y.shape} and dtype {y.dtype}, expected class indices (batch,) of integers")
    return [int(i) for i in y]


def _check_labels(labels: list[int], index: DatasetIndex) -> None:
    if Counter(labels) != Counter(index.labels):
        raise Broken("its labels are not the dataset's: some images are missing or repeated, or mislabelled")
    if labels != list(index.labels):
        first = next(i for i, (a, b) in enumerate(zip(labels, index.labels)) if a != b)
        raise Broken(f"with shuffle off, images come out of the dataset's order (from image {first})")


def _check_pixels(images: dict[int, np.ndarray], index: DatasetIndex, contract: Contract) -> None:
    import tensorflow as tf

    from pipelines.loaders.tfops import decode_resized

    mean = float(np.mean([np.abs(255 * image - decode_resized(tf.constant(str(index.paths[i])), contract).numpy())
                          .mean() for i, image in images.items()]))
    if mean > PIXEL_TOLERANCE:
        raise Broken(f"pixels differ from the exact decode by {mean:.1f}/255 on average (at most "
                     f"{PIXEL_TOLERANCE:g}): declare augmented=True if it changes them on purpose")
