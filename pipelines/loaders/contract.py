"""What every pipeline builder delivers: the one preprocessing contract that makes loaders' timings comparable
and their outputs equal."""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Literal

from pipelines.caches.modes import CACHE_MODES, CACHE_SPECS, CacheMode, CacheSpec
from pipelines.machine import available_cores
from pipelines.options import Option
from pipelines.values import count, writable_folder
from pipelines.validation import require

Placement = Literal["uint8", "float32"]
LabelMode = Literal["int", "categorical"]
Interpolation = Literal["bilinear", "nearest"]

PLACEMENTS: tuple[Placement, ...] = ("uint8", "float32")
LABEL_MODES: tuple[LabelMode, ...] = ("int", "categorical")
INTERPOLATIONS: tuple[Interpolation, ...] = ("bilinear", "nearest")

def _square(text: str) -> tuple[int, int]:
    """``224`` -> ``(224, 224)``; ``224,160`` -> ``(224, 160)`` (height, width)."""
    parts = [part.strip() for part in str(text).split(",")]
    try:
        sides = tuple(int(part) for part in parts)
    except ValueError:
        sides = ()
    if len(sides) not in (1, 2) or min(sides) < 1:
        raise ValueError(f"a side in pixels (224) or height,width (224,160), got {text!r}")
    return (sides[0], sides[-1])


IMAGE_SIZE = Option("--image-size", "the size every image is resized to: a side, or height,width", parse=_square,
                    default=(224, 224), metavar="PIXELS", default_text="224")
PLACEMENT = Option("--placement", "what a cache holds: uint8 pixels (normalised after it) or float32 images",
                   default="float32", choices=PLACEMENTS)
BATCH_SIZE = Option("--batch-size", "images per batch", parse=count, default=32, metavar="N")
PARALLELISM = Option("--parallelism", "parallel calls / worker threads instead of AUTOTUNE (steadier timings for a "
                     "CI gate)", parse=count, metavar="N", default_text="AUTOTUNE; one worker a core for "
                     "ImageDataGenerator")
CACHE_DIR = Option("--cache-dir", "where file caches are written; put it on the disk you would train from",
                   parse=writable_folder, metavar="FOLDER", default_text="the system's temporary folder")


@dataclass(frozen=True)
class Contract:
    """What a pipeline builder delivers: batches of ``(images, labels)`` that ``model.fit`` accepts.

    Attributes:
        image_size: ``(height, width)`` every image is resized to (aspect ratio not kept, as in Keras).
        batch_size: images per batch; the last batch of an epoch may be smaller (never dropped).
        label_mode: ``int`` (class index, for sparse losses) or ``categorical`` (one-hot float32).
        interpolation: resize filter, ``bilinear`` or ``nearest``; ``nearest`` makes every loader bit-equal
            up to JPEG decoder rounding, ``bilinear`` differs for ImageDataGenerator (PIL antialiases).
        shuffle: shuffle every epoch (off for equality checks); order is then seeded by ``seed``.
        seed: seed for shuffling.
        shuffle_buffer: elements held by ``Dataset.shuffle`` after a cache. Costs RAM: one decoded image each.
        cache: ``none``, ``memory`` (``Dataset.cache()``: requires the whole decoded dataset in RAM) or
            ``file`` (``Dataset.cache(path)``: the decoded dataset on disk, written in the first epoch).
        placement: what the cache holds. ``uint8``: resized pixels, normalised after the cache (a quarter of
            the bytes). ``float32``: normalised images, as in the study (4 bytes a value: why its cache was 5x
            the JPEGs).
        cache_dir: parent folder for file caches; a fresh temporary folder is made in it for every pipeline
            and removed when the pipeline is closed. ``None`` uses the system's temporary folder.
        parallelism: parallel calls / worker threads; ``None`` lets tf.data AUTOTUNE choose (and uses one
            worker per core for ImageDataGenerator).
        service_address: the tf.data service dispatcher (``grpc://host:port``) that service loaders send their
            pipeline to; ``None`` for every other loader (the suite starts a local service for its service cases).
    """

    image_size: tuple[int, int] = (224, 224)
    batch_size: int = BATCH_SIZE.field()
    label_mode: LabelMode = "int"
    interpolation: Interpolation = "bilinear"
    shuffle: bool = True
    seed: int = 1337
    shuffle_buffer: int = 1024
    cache: CacheMode = "none"
    placement: Placement = "uint8"
    cache_dir: Path | None = CACHE_DIR.field()
    parallelism: int | None = PARALLELISM.field()
    service_address: str | None = None

    def __post_init__(self) -> None:
        require(len(self.image_size) == 2 and all(int(s) > 0 for s in self.image_size),
                 f"image_size must be two positive integers (height, width), got {self.image_size!r}")
        require(self.batch_size > 0, f"batch_size must be positive, got {self.batch_size}")
        require(self.label_mode in LABEL_MODES, f"label_mode must be one of {LABEL_MODES}, got {self.label_mode!r}")
        require(self.interpolation in INTERPOLATIONS,
                 f"interpolation must be one of {INTERPOLATIONS}, got {self.interpolation!r}")
        require(self.shuffle_buffer > 0, f"shuffle_buffer must be positive, got {self.shuffle_buffer}")
        require(self.cache in CACHE_MODES, f"cache must be one of {CACHE_MODES}, got {self.cache!r}")
        require(self.placement in PLACEMENTS, f"placement must be one of {PLACEMENTS}, got {self.placement!r}")
        require(self.parallelism is None or self.parallelism > 0,
                 f"parallelism must be positive or None (AUTOTUNE), got {self.parallelism}")

    @property
    def cache_spec(self) -> CacheSpec:
        """The declaration of this contract's cache mode."""
        return CACHE_SPECS[self.cache]

    def with_(self, **changes: object) -> Contract:
        """A copy with some fields changed (validated again)."""
        return replace(self, **changes)

    @property
    def workers(self) -> int:
        """Worker threads for loaders that do not AUTOTUNE."""
        return self.parallelism or available_cores()


