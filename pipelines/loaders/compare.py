"""How far a decode recipe's pixels are from the exact one's: the price of a faster decode, measured."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import tensorflow as tf

from pipelines.loaders.contract import Contract
from pipelines.datasets import DatasetIndex
from pipelines.loaders.tfops import decode_resized, decode_resized_fast


@dataclass(frozen=True)
class PixelDifference:
    """Attributes: images compared; mean and largest absolute difference, in pixel levels (of 255)."""

    images: int
    mean: float
    max: float


def pixel_difference(index: DatasetIndex, contract: Contract, sample: int = 128,
                     decode: Callable[[tf.Tensor, Contract], tf.Tensor] = decode_resized_fast) -> PixelDifference:
    """``decode`` against :func:`decode_resized` on up to ``sample`` images spread evenly over the dataset."""
    step = max(1, index.images // sample)
    paths = [str(p) for p in index.paths[::step][:sample]]
    total = largest = 0.0
    for path in paths:
        exact = decode_resized(tf.constant(path), contract).numpy().astype(np.int16)
        other = decode(tf.constant(path), contract).numpy().astype(np.int16)
        diff = np.abs(exact - other)
        total += float(diff.mean())
        largest = max(largest, float(diff.max()))
    return PixelDifference(len(paths), total / len(paths), largest)
