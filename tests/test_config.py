"""The typed configuration rejects impossible settings with the option's name; sizes parse as people write them."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pipelines.config import PRESETS, BenchSettings, Contract
from pipelines.units import format_bytes, parse_bytes


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"batch_size": 0}, "batch_size must be positive"),
        ({"image_size": (0, 224)}, "image_size"),
        ({"cache": "disk"}, "cache must be one of"),
        ({"placement": "float16"}, "placement must be one of"),
        ({"label_mode": "binary"}, "label_mode must be one of"),
        ({"interpolation": "cubic"}, "interpolation must be one of"),
        ({"parallelism": 0}, "parallelism must be positive"),
    ],
)
def test_contract_rejects_impossible_settings(changes, message):
    with pytest.raises(ValueError, match=message):
        Contract().with_(**changes)


@pytest.mark.parametrize(("changes", "message"), [({"rounds": 0}, "--rounds"), ({"alpha": 0}, "--alpha"),
                                                  ({"preset": "imagenet"}, "--preset"),
                                                  ({"weights": "/nowhere/w.h5"}, "--weights: no such file"),
                                                  ({"dataset": "/data", "images": 5}, "--images scales"),
                                                  ({"accelerator": 0.0}, "--accelerator must be a positive")])
def test_bench_settings_name_the_option_at_fault(changes, message):
    with pytest.raises(ValueError, match=message):
        BenchSettings(**changes)


@pytest.mark.parametrize(("text", "value"), [("16GB", 16 * 10**9), ("512MiB", 512 * 2**20), ("1000", 1000),
                                             ("1.5 gb", 1_500_000_000), ("2GiB", 2 * 2**30)])
def test_parse_bytes(text, value):
    assert parse_bytes(text) == value


@pytest.mark.parametrize("text", ["", "lots", "16 GX", "-1GB"])
def test_parse_bytes_rejects_nonsense(text):
    with pytest.raises(ValueError, match="not a size"):
        parse_bytes(text)


@given(st.integers(0, 10**15))
def test_format_bytes_reads_back_within_rounding(value):
    shown = format_bytes(value)
    assert abs(parse_bytes(shown.replace(" ", "")) - value) <= max(1, 0.06 * value)


def test_presets_match_the_study():
    assert (PRESETS["dogs-vs-cats"].images, PRESETS["dogs-vs-cats"].classes) == (10_000, 2)
    assert (PRESETS["coco2017"].images, PRESETS["coco2017"].classes) == (117_266, 80)
    assert 20_000 < PRESETS["dogs-vs-cats"].target_bytes < 23_000  # 217 MB / 10,000
    assert 150_000 < PRESETS["coco2017"].target_bytes < 160_000  # ~18 GB / 117,266
