"""The ``photos`` preset (:mod:`pipelines.datasets.photos`): a folder of crops of real photographs, one class per
photograph, JPEGs with a few PNGs, reproducible byte for byte, and a clear error without scikit-image."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from pipelines.datasets import DatasetError, generate, index_dataset
from pipelines.datasets.generate import recipe
from pipelines.datasets.photos import SOURCES
from pipelines.datasets.presets import PRESETS

PHOTOS = PRESETS["photos"]


def _files(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*.*g"))}


def test_the_photos_preset_is_crops_of_real_photographs_with_a_few_pngs(tmp_path):
    pytest.importorskip("skimage", reason="the photos preset is cut from scikit-image's photographs")
    preset = PHOTOS.scaled(40)
    generate(preset, tmp_path / "a", seed=3, progress=False)
    index = index_dataset(tmp_path / "a")
    assert index.images == 40 and index.class_names == tuple(name for name, _, _ in SOURCES)
    formats = {}
    for path, label in zip(index.paths, index.labels, strict=True):
        with Image.open(path) as image:
            formats[path.suffix] = image.format
            assert image.size in ((640, 480), (480, 640)) and image.mode == "RGB"
            pixels = np.asarray(image, dtype=np.float32)
        assert path.parent.name == index.class_names[label]
        assert pixels.std() > 10  # a picture, not a flat fill
    assert formats == {".jpg": "JPEG", ".png": "PNG"}
    assert sum(p.suffix == ".png" for p in index.paths) == 1  # every 33rd: image 16 of 40
    generate(preset, tmp_path / "b", seed=3, progress=False)
    assert _files(tmp_path / "a") == _files(tmp_path / "b")  # a pure function of (seed, index)


def test_without_scikit_image_the_photos_preset_says_what_to_install(tmp_path, monkeypatch):
    from pipelines.datasets import photos

    real = __import__("importlib.util").util.find_spec
    monkeypatch.setattr("importlib.util.find_spec", lambda name, *a: None if name == "skimage" else real(name, *a))
    photos._photograph.cache_clear()
    with pytest.raises(DatasetError, match=r"pip install '\.\[photos\]'"):
        generate(PHOTOS.scaled(9), tmp_path / "p", progress=False)
    photos._photograph.cache_clear()


def test_the_synthetic_presets_recipes_are_as_before_the_photos_preset():
    """datasets generated before ``source`` and ``png_every`` existed are reused, not rebuilt"""
    for preset in PRESETS.values():
        assert ("source" in recipe(preset, 0)) == (preset.source != "synthetic")
    assert recipe(PHOTOS, 0)["png_every"] == 33
