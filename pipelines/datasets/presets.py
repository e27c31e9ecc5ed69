"""The shapes of generated datasets, modelled on the study's, and where generated datasets are kept."""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from pathlib import Path

from pipelines.datasets.photos import SOURCES as PHOTOGRAPHS
from pipelines.validation import require


#: What a preset's images can be made from.
SOURCES = ("synthetic", "photos")


@dataclass(frozen=True)
class Preset:
    """The shape of a generated dataset.

    Attributes:
        name: the preset's name on the command line.
        images: number of images at full size.
        classes: number of class folders; image ``i`` goes to class ``i % classes``.
        sizes: ``((width, height), weight)`` pairs: image dimensions and how often each occurs.
        size_jitter: relative jitter applied to each dimension, so sizes and aspect ratios vary.
        target_bytes: average JPEG file size the generator aims for (JPEG quality is calibrated to it).
        detail: strength of texture and sensor noise; raise it where quality 95 cannot reach target_bytes.
        class_names: folder names; ``class_00``... when empty.
        description: where the shape comes from.
        source: what the images are: ``synthetic`` (:mod:`pipelines.datasets.synth`) or ``photos``, crops of
            real photographs, one class each (:mod:`pipelines.datasets.photos`).
        png_every: every ``png_every``-th image is a PNG instead of a JPEG (0: none), as in a user's folder.
    """

    name: str
    images: int
    classes: int
    sizes: tuple[tuple[tuple[int, int], float], ...]
    target_bytes: int
    size_jitter: float = 0.15
    detail: float = 1.0
    class_names: tuple[str, ...] = ()
    description: str = ""
    source: str = "synthetic"
    png_every: int = 0

    def __post_init__(self) -> None:
        require(self.images >= self.classes >= 1,
                 f"preset {self.name!r}: need at least one image per class "
                 f"({self.images} images for {self.classes} classes)")
        require(not self.class_names or len(self.class_names) == self.classes,
                 f"preset {self.name!r}: {len(self.class_names)} class names for {self.classes} classes")
        require(self.target_bytes > 0 and self.sizes, f"preset {self.name!r}: sizes and target_bytes required")
        require(self.source in SOURCES, f"preset {self.name!r}: source must be one of {', '.join(SOURCES)}")
        require(self.png_every >= 0, f"preset {self.name!r}: png_every must be 0 (none) or positive")

    def extension(self, index: int) -> str:
        """The file type of image ``index``: ``png`` for every ``png_every``-th, else ``jpg``."""
        return "png" if self.png_every and index % self.png_every == self.png_every // 2 else "jpg"

    @property
    def folder_names(self) -> tuple[str, ...]:
        width = len(str(self.classes - 1))
        return self.class_names or tuple(f"class_{i:0{max(2, width)}d}" for i in range(self.classes))

    def scaled(self, images: int | None) -> Preset:
        """The same shape (classes, image sizes, bytes per image) with another image count."""
        if images is None or images == self.images:
            return self
        return replace(self, images=images)


PRESETS: dict[str, Preset] = {
    p.name: p
    for p in (
        Preset(
            name="smoke",
            images=300,
            classes=3,
            sizes=(((320, 240), 0.6), ((240, 320), 0.2), ((300, 300), 0.2)),
            target_bytes=16_000,
            description="the built-in default: small enough for a whole benchmark run in minutes on 2 cores",
        ),
        Preset(
            name="dogs-vs-cats",
            images=10_000,
            classes=2,
            sizes=(((500, 375), 0.45), ((400, 300), 0.25), ((375, 500), 0.15), ((320, 240), 0.15)),
            target_bytes=21_700,
            class_names=("cat", "dog"),
            description="the study's small set: 10,000 images, 2 classes, 217 MB",
        ),
        Preset(
            name="coco2017",
            images=117_266,
            classes=80,
            sizes=(((640, 480), 0.6), ((480, 640), 0.15), ((640, 427), 0.25)),
            size_jitter=0.0,
            target_bytes=153_500,
            detail=2.2,
            description="the study's large set: 117,266 images, 80 classes, ~18 GB, mostly 640x480",
        ),
        Preset(
            name="photos",
            images=1_000,
            classes=9,
            sizes=(((640, 480), 0.75), ((480, 640), 0.25)),
            size_jitter=0.0,
            target_bytes=70_000,
            class_names=tuple(name for name, _, _ in PHOTOGRAPHS),
            source="photos",
            png_every=33,
            description="real photographs: crops of 9 that scikit-image and matplotlib ship, 640x480, a few PNGs",
        ),
    )
}

DEFAULT_PRESET = "smoke"


def default_data_root() -> Path:
    """Where generated datasets are kept between runs: ``$LOADERBENCH_DATA`` or ``~/.cache/loaderbench``."""
    return Path(os.environ.get("LOADERBENCH_DATA") or Path.home() / ".cache" / "loaderbench" / "datasets")


