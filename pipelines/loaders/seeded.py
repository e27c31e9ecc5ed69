"""Seeded regressions: real extra CPU work in a loader's own decode path, to prove that the CI gate sees it.

``LOADERBENCH_REGRESSION="tfdata=0.15"`` makes the ``tfdata`` loader read, decode and resize 15% of its
images a second time, inside its parallel ``map``: more work on its decode path, the kind of slowdown a real
change causes (an extra pass, a slower op), which prefetching cannot hide because the map itself does more.
Exactly ``floor(images x fraction)`` images, spread evenly over the file list, carry the extra pass. The CPU
added is less than ``fraction`` full decode passes (the second pass skips the rounding to uint8 and tf.data's
per-element costs), so how much slower an epoch gets is measured, never assumed (docs/gate.md).
Never set in normal runs.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from io import BytesIO

import tensorflow as tf
from PIL import Image

from pipelines.loaders.contract import Contract
from pipelines.loaders.seeds import REGRESSION_VARIABLE, seed_part

Decode = Callable[[tf.Tensor, Contract], tf.Tensor]


def seeded_fraction(loader: str) -> float:
    """The share of images ``LOADERBENCH_REGRESSION`` asks ``loader`` to decode twice (0.0 when unset).

    The value is ``loader=fraction`` pairs separated by commas; ``*`` names every loader that has a seed.
    """
    fractions = {}
    for part in filter(None, os.environ.get(REGRESSION_VARIABLE, "").split(",")):
        name, fraction = seed_part(part)
        fractions[name.strip()] = fraction
    return fractions.get(loader, fractions.get("*", 0.0))


def extra_pass_flags(images: int, fraction: float) -> list[bool]:
    """Which of ``images`` files get the extra pass: exactly ``floor(images x fraction)``, evenly spread."""
    return [math.floor((i + 1) * fraction) > math.floor(i * fraction) for i in range(images)]


def with_extra_pass(decode: Decode) -> Callable[[tf.Tensor, tf.Tensor, tf.Tensor, Contract], tuple]:
    """``(path, label) -> (image, label)`` with ``decode``, which, when its ``extra`` flag is set, reads,
    decodes and resizes the file once more: the whole decode path again, so ``fraction`` is the share of the
    path's work added.

    No control flow (a ``tf.cond`` in the map measured dearer than the work it guards): every image takes a
    second pass over a second input, which is the file itself when flagged and a 1x1 JPEG resized to 1x1
    otherwise (microseconds). The second pass's largest pixel feeds the label (a scalar op: never a change,
    since no pixel exceeds 255), so the work cannot be pruned as dead code, merged with the first decode, or
    cost a pass over the image; outputs equal the plain decode's.
    """

    def load(path: tf.Tensor, label: tf.Tensor, extra: tf.Tensor, contract: Contract) -> tuple:
        data = tf.where(extra, tf.io.read_file(path), tf.constant(TINY_JPEG))
        again = tf.io.decode_image(data, channels=3, expand_animations=False)
        size = tf.where(extra, tf.constant(contract.image_size), tf.constant((1, 1)))
        again = tf.image.resize(again, size, method=contract.interpolation)
        impossible = tf.cast(tf.reduce_max(again) > 255.0, label.dtype)
        return decode(path, contract), label + impossible

    return load


def _tiny_jpeg() -> bytes:
    buffer = BytesIO()
    Image.new("RGB", (1, 1)).save(buffer, format="JPEG")
    return buffer.getvalue()


#: What an image without the extra pass decodes a second time: next to nothing.
TINY_JPEG = _tiny_jpeg()
