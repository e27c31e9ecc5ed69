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
    from pipelines.optional import install_hint, unusable

    if cause := unusable("skimage", load=False):
        pytest.skip(f"the photos preset is cut from scikit-image's photographs, and skimage is {cause}: "
                    f"{install_hint('photos')}")
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
    """scikit-image hidden as Python blocks a package (``None`` in ``sys.modules``: ``find_spec`` answers None,
    an import fails), with the optional packages' cached answers forgotten before and after"""
    import sys

    from pipelines.datasets import photos
    from pipelines.optional import unusable

    monkeypatch.setitem(sys.modules, "skimage", None)
    photos._photograph.cache_clear()
    unusable.cache_clear()
    try:
        with pytest.raises(DatasetError, match=r"skimage is not installed: pip install '\.\[photos\]'"):
            generate(PHOTOS.scaled(9), tmp_path / "p", progress=False)
    finally:
        photos._photograph.cache_clear()
        unusable.cache_clear()


def test_a_source_package_whose_parent_is_absent_is_not_installed_not_an_error():
    """a dotted package name whose parent is missing makes ``find_spec`` raise: the same hint instead"""
    from pipelines.datasets.photos import source_path

    with pytest.raises(DatasetError, match=r"is not installed: pip install '\.\[photos\]' \(or tox -e bench-photos\)"):
        source_path("nosuchparent_loaderbench.photos", "data/astronaut.png")


def test_the_synthetic_presets_recipes_are_as_before_the_photos_preset():
    """datasets generated before ``source`` and ``png_every`` existed are reused, not rebuilt"""
    for preset in PRESETS.values():
        assert ("source" in recipe(preset, 0)) == (preset.source != "synthetic")
    assert recipe(PHOTOS, 0)["png_every"] == 33
