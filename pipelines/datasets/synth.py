"""Synthetic photographs: images a JPEG decoder works as hard on as on real photos.

A decoder's cost depends on what survives compression: smooth regions (cheap), edges and texture (expensive)
and noise. Uniform noise or flat colour would make JPEGs far larger or far smaller than photos of the same
size and would misstate decode speed, so every image mixes all four. Each image is a pure function of
``(seed, index)``, so a dataset is reproducible byte for byte whatever the number of worker processes.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from pipelines.datasets.presets import Preset

#: Bump when the synthesis changes: a dataset made by another version is rebuilt, not reused.
GENERATOR_VERSION = 1

_CALIBRATION_SAMPLES = 32
_QUALITY_RANGE = (20, 95)


@dataclass(frozen=True)
class ImageSpec:
    """One image to make: where it goes and what it looks like."""

    index: int
    class_index: int
    width: int
    height: int
    extension: str = "jpg"


def image_specs(preset: Preset, seed: int) -> list[ImageSpec]:
    """Sizes and classes of every image of ``preset`` (classes interleaved, so any prefix is balanced)."""
    return [_spec(preset, seed, i) for i in range(preset.images)]


def _spec(preset: Preset, seed: int, index: int) -> ImageSpec:
    rng = np.random.default_rng([seed, index, 0])
    weights = np.array([w for _, w in preset.sizes], dtype=float)
    (width, height), _ = preset.sizes[rng.choice(len(preset.sizes), p=weights / weights.sum())]
    jitter = 1 + rng.uniform(-preset.size_jitter, preset.size_jitter, size=2)
    return ImageSpec(index, index % preset.classes, max(8, round(width * jitter[0])), max(8, round(height * jitter[1])),
                     preset.extension(index))


def picture(spec: ImageSpec, preset: Preset, seed: int) -> Image.Image:
    """Image ``spec`` of ``preset``: synthesized, or cut from a real photograph (``preset.source``)."""
    if preset.source == "photos":
        from pipelines.datasets.photos import photograph_crop

        return photograph_crop(spec.index, spec.class_index, spec.width, spec.height, seed)
    return synthesize(spec, preset, seed)


def synthesize(spec: ImageSpec, preset: Preset, seed: int) -> Image.Image:
    """An RGB picture: a smooth background, shapes with edges, patches of texture and sensor noise.

    The class sets the palette's hue, so classes are told apart by colour, as a small model can learn.
    """
    rng = np.random.default_rng([seed, spec.index, 1])
    w, h = spec.width, spec.height
    hue = spec.class_index / preset.classes

    # Smooth regions: a few random colours blended over the whole frame (sky, walls, out-of-focus areas).
    low = _palette(rng, hue, (3, 4))
    image = Image.fromarray(low).resize((w, h), Image.Resampling.BICUBIC)

    # Edges: opaque shapes of the class's palette, some outlined.
    draw = ImageDraw.Draw(image)
    for _ in range(int(rng.integers(4, 12))):
        x0, x1 = sorted(rng.integers(-w // 4, w + w // 4, size=2))
        y0, y1 = sorted(rng.integers(-h // 4, h + h // 4, size=2))
        colour = tuple(int(c) for c in _palette(rng, hue, (1, 1))[0, 0])
        outline = tuple(int(c) for c in rng.integers(0, 256, size=3)) if rng.random() < 0.5 else None
        kind = rng.integers(0, 3)
        if kind == 0:
            draw.ellipse((x0, y0, x1 + 1, y1 + 1), fill=colour, outline=outline, width=2)
        elif kind == 1:
            draw.rectangle((x0, y0, x1 + 1, y1 + 1), fill=colour, outline=outline, width=2)
        else:
            points = [(int(x), int(y)) for x, y in zip(rng.integers(0, w, 5), rng.integers(0, h, 5), strict=True)]
            draw.polygon(points, fill=colour, outline=outline)
    image = image.filter(ImageFilter.GaussianBlur(radius=float(rng.uniform(0.3, 1.2))))

    pixels = np.asarray(image, dtype=np.float32)
    # Texture: mid-frequency noise (foliage, fabric) whose strength varies over the frame.
    strength = _upsample(rng.uniform(0, 1, (3, 4)) ** 2, w, h)[..., None]
    texture = _upsample(rng.normal(0, 1, (max(1, h // 4), max(1, w // 4))), w, h)[..., None]
    pixels += 40 * preset.detail * strength * texture
    # Sensor noise: fine grain everywhere, as in any photo.
    pixels += rng.normal(0, 4 * preset.detail, pixels.shape)
    return Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8))


def encode_jpeg(image: Image.Image, quality: int) -> bytes:
    """Baseline JPEG bytes (4:2:0 chroma, as cameras and most datasets use)."""
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=quality)
    return buffer.getvalue()


def encode(image: Image.Image, spec: ImageSpec, quality: int) -> bytes:
    """``image`` as ``spec``'s file type: a JPEG at ``quality`` or a PNG (lossless: quality plays no part)."""
    if spec.extension == "jpg":
        return encode_jpeg(image, quality)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def calibrate_quality(preset: Preset, seed: int) -> int:
    """The JPEG quality whose average file size is closest to ``preset.target_bytes``.

    Measured on a fixed sample of the preset's images, so a scaled-down dataset gets the same quality
    (and the same bytes per image) as the full one.
    """
    full = preset.scaled(max(preset.images, _CALIBRATION_SAMPLES))
    samples = [picture(_spec(full, seed, i), full, seed) for i in range(_CALIBRATION_SAMPLES)]

    def mean_bytes(quality: int) -> float:
        return float(np.mean([len(encode_jpeg(s, quality)) for s in samples]))

    low, high = _QUALITY_RANGE
    while low < high:  # file size grows with quality: bisect for the first quality at or above the target
        mid = (low + high) // 2
        if mean_bytes(mid) < preset.target_bytes:
            low = mid + 1
        else:
            high = mid
    candidates = {q for q in (low - 1, low) if _QUALITY_RANGE[0] <= q <= _QUALITY_RANGE[1]}
    return min(candidates, key=lambda q: abs(mean_bytes(q) - preset.target_bytes))


def _palette(rng: np.random.Generator, hue: float, shape: tuple[int, int]) -> np.ndarray:
    """Colours around ``hue`` (HSV), as a uint8 RGB array of ``shape``."""
    hsv = np.stack(
        [
            (hue + rng.normal(0, 0.06, shape)) % 1.0,
            rng.uniform(0.25, 0.9, shape),
            rng.uniform(0.25, 1.0, shape),
        ],
        axis=-1,
    )
    return np.asarray(Image.fromarray((hsv * 255).astype(np.uint8), mode="HSV").convert("RGB"))


def _upsample(values: np.ndarray, width: int, height: int) -> np.ndarray:
    """Bilinear upsampling of a small float array to ``height x width``."""
    return np.asarray(Image.fromarray(values.astype(np.float32), mode="F").resize((width, height), Image.Resampling.BILINEAR))
