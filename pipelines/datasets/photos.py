"""A folder of real photographs, made offline: crops of the photos that scikit-image and matplotlib ship.

A JPEG decoder's cost, and what a fast decode path gains, depend on what is in the picture: skin, sky, foliage,
film grain and sensor noise compress and decode as no synthetic texture quite does. The suite has no network at
run time, so the ``photos`` preset (``python -m pipelines.datasets generate --preset photos``) is cut from the
colour photographs installed with scikit-image (``pip install '.[photos]'``) and matplotlib (a dependency): one
class per photograph, each image a window of it at a random scale, position and mirror, resized to the preset's
size with Lanczos and saved as a JPEG at the calibrated quality -- or, every ``png_every``-th image, as a PNG,
as a user's folder often holds a few. Each image is a pure function of ``(seed, index)``.

Six of the nine photographs are smaller than 640x480 themselves, so most windows are enlarged to fill it (up
to 2.7x: chelsea's smallest window), which smooths them; figures measured on this preset say so by its name.
"""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

from pipelines.datasets.validate import DatasetError
from pipelines.optional import install_hint, unusable

#: The photographs, one class each: ``(class name, package, path inside the package)``, in the order of their
#: folders' names (the order labels follow). Colour photographs only (scikit-image's greyscale textures and
#: drawings are left out).
SOURCES: tuple[tuple[str, str, str], ...] = (
    ("astronaut", "skimage", "data/astronaut.png"),
    ("chelsea", "skimage", "data/chelsea.png"),
    ("coffee", "skimage", "data/coffee.png"),
    ("grace_hopper", "matplotlib", "mpl-data/sample_data/grace_hopper.jpg"),
    ("hubble", "skimage", "data/hubble_deep_field.jpg"),
    ("ihc", "skimage", "data/ihc.png"),
    ("motorcycle", "skimage", "data/motorcycle_left.png"),
    ("retina", "skimage", "data/retina.jpg"),
    ("rocket", "skimage", "data/rocket.jpg"),
)

#: The smallest share of the largest window of the target's aspect that a crop keeps, on each side.
MIN_SCALE = 0.6


def source_path(package: str, relative: str) -> Path:
    """Where ``package`` keeps ``relative``, or a :class:`DatasetError` saying what to install.

    The package is looked for, not imported (``load=False``): only the files it ships are read.
    """
    from importlib.util import find_spec

    cause = unusable(package, load=False)
    spec = find_spec(package) if cause is None else None
    if spec is None or not spec.submodule_search_locations:
        raise DatasetError(f"the photos preset is cut from photographs that {package} ships, and {package} is "
                           f"{cause or 'not installed'}: {install_hint('photos')}")
    path = Path(next(iter(spec.submodule_search_locations))) / relative
    if not path.is_file():
        raise DatasetError(f"the photos preset needs {relative} from {package}, which this installation of "
                           f"{package} does not have ({path})")
    return path


@functools.lru_cache(maxsize=len(SOURCES))
def _photograph(class_index: int) -> Image.Image:
    _, package, relative = SOURCES[class_index]
    with Image.open(source_path(package, relative)) as image:
        return image.convert("RGB")


def photograph_crop(index: int, class_index: int, width: int, height: int, seed: int) -> Image.Image:
    """A ``width`` x ``height`` window of photograph ``class_index``: at least :data:`MIN_SCALE` of the largest
    window of that aspect on each side, anywhere in the frame, mirrored half the time."""
    rng = np.random.default_rng([seed, index, 2])
    source = _photograph(class_index)
    largest = min(source.width / width, source.height / height)
    scale = largest * rng.uniform(MIN_SCALE, 1.0)
    crop_w, crop_h = max(1, round(width * scale)), max(1, round(height * scale))
    left = int(rng.integers(0, source.width - crop_w + 1))
    top = int(rng.integers(0, source.height - crop_h + 1))
    window = source.crop((left, top, left + crop_w, top + crop_h)).resize((width, height), Image.Resampling.LANCZOS)
    return ImageOps.mirror(window) if rng.random() < 0.5 else window
