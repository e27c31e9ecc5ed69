"""Every hypothesis strategy of the test suite, in one place."""

from __future__ import annotations

from hypothesis import strategies as st

from pipelines.datasets.presets import Preset
from pipelines.loaders.contract import Contract


@st.composite
def tiny_presets(draw, max_images: int = 10, max_classes: int = 3) -> Preset:
    """A dataset shape small enough to generate and decode in well under a second."""
    classes = draw(st.integers(1, max_classes))
    images = draw(st.integers(classes, max(classes, max_images)))
    width = draw(st.integers(8, 72))
    height = draw(st.integers(8, 72))
    return Preset(
        name="tiny",
        images=images,
        classes=classes,
        sizes=(((width, height), 1.0),),
        size_jitter=draw(st.sampled_from([0.0, 0.3])),
        target_bytes=draw(st.integers(500, 4000)),
    )


@st.composite
def equality_contracts(draw) -> Contract:
    """Unshuffled contracts with batch sizes that need not divide the image count."""
    return Contract(
        image_size=(draw(st.integers(8, 40)), draw(st.integers(8, 40))),
        batch_size=draw(st.integers(1, 7)),
        label_mode=draw(st.sampled_from(["int", "categorical"])),
        interpolation=draw(st.sampled_from(["bilinear", "nearest"])),
        shuffle=False,
    )
