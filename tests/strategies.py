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


#: Text that is no number, no size and no path a command accepts.
_GARBAGE = st.sampled_from(["", " ", "lots", "1e999", "nan", "16QB", "ten", "1,,", "-"])


def bad_values(parse, choices: tuple[str, ...] | None, here) -> st.SearchStrategy[str]:
    """Values an option parsed by ``parse`` (one of :mod:`pipelines.options`' parsers) or limited to ``choices``
    must refuse; ``here`` is a folder holding a file ``a-file`` and no ``missing/``."""
    from pipelines import values
    from pipelines.gate.settings import GATE_ALPHA, baseline_file
    from pipelines.loaders.contract import IMAGE_SIZE

    if choices:
        return st.text(alphabet="abcxyz-_0", min_size=1, max_size=8).filter(lambda text: text not in choices)
    by_parser = {
        values.count: st.one_of(st.integers(max_value=0).map(str), st.floats(0.1, 9.9).map(str), _GARBAGE),
        values.natural: st.one_of(st.integers(max_value=-1).map(str), _GARBAGE),
        values.positive: st.one_of(st.floats(max_value=0, allow_nan=False).map(str), _GARBAGE),
        values.non_negative: st.one_of(st.floats(max_value=-1e-6, allow_nan=False).map(str), _GARBAGE),
        values.fraction: st.one_of(st.floats(min_value=1, allow_infinity=False).map(str),
                                    st.floats(max_value=-1e-6, allow_infinity=False).map(str), _GARBAGE),
        values.size: st.one_of(st.integers(1, values.SMALLEST_BARE_SIZE - 1).map(str),
                                st.integers(1, 99).map(lambda n: f"-{n}GB"), st.just("0GB"), _GARBAGE),
        values.rate: st.one_of(st.just("0MB/s"), st.just("-5MB/s"), _GARBAGE),
        values.counts: st.sampled_from(["0,5", "250,-1", ",", "", "lots", "1.5,2"]),
        values.names: st.sampled_from(["", ",", " , "]),
        values.existing_folder: st.sampled_from(["", str(here / "missing"), str(here / "a-file")]),
        values.existing_file: st.sampled_from(["", str(here / "missing.json"), str(here)]),
        GATE_ALPHA.parse: st.sampled_from(["0", "1", "-0.1", "1.5", "lots", ""]),
        baseline_file: st.sampled_from(["", str(here / "missing.json"), str(here)]),
        IMAGE_SIZE.parse: st.sampled_from(["", "0", "-3", "224,0", "1,2,3", "big"]),
        values.writable_folder: st.sampled_from(["", str(here / "a-file"), str(here / "a-file" / "below"),
                                                  "/proc/loaderbench-nowhere"]),
    }
    return by_parser[parse]
