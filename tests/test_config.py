"""The typed configuration rejects impossible settings with the option's name; sizes parse as people write them."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pipelines.datasets.presets import PRESETS
from pipelines.gate.settings import GateRun, GateSettings
from pipelines.harness.settings import BenchSettings
from pipelines.loaders.contract import Contract
from pipelines.units import format_bytes, parse_bytes, parse_list
from tests.helpers import assert_refused_at_start, bench_in_process

#: ``pytester``: the benchmark runs that stop at start run in this process (tests/helpers.py).
pytest_plugins = ("pytester",)

ROOT = Path(__file__).resolve().parents[1]


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


@pytest.mark.parametrize(("changes", "message"), [
    ({"data_service": "grpc://localhost:5050"},
     "--data-service is used by the tf.data service cases, which run only with --extended: add --extended"),
    ({"service_workers": 2}, "--service-workers sizes the local tf.data service .*: add --extended"),
    ({"service_workers": 2, "data_service": "grpc://localhost:5050", "extended": True},
     "--service-workers sizes the local service; it cannot be combined with --data-service"),
    ({"accelerator": 100.0, "alpha": 0.5}, "--alpha sets MobileNet's width, which --accelerator replaces"),
    ({"accelerator": 100.0, "weights": "imagenet"}, "--weights loads MobileNet's weights, which --accelerator"),
    ({"dataset": Path("/data"), "preset": "coco2017"}, "--preset shapes a generated dataset; .*leave --preset out"),
    ({"dataset": Path("/data"), "seed": 3}, "--seed seeds the dataset generator; .*leave --seed out"),
])
def test_bench_settings_refuse_combinations_that_would_do_nothing(changes, message):
    with pytest.raises(ValueError, match=message):
        BenchSettings(**changes)


@pytest.mark.parametrize(("gate", "message"), [
    (GateSettings(threshold=0.2),
     "--gate-threshold configures the loaderbench gate, which runs only with --gate-baseline: add --gate-baseline"),
    (GateSettings(mismatch="warn"), "--gate-mismatch configures the loaderbench gate"),
    (GateSettings(alpha=0.05), "--gate-alpha configures the loaderbench gate"),
    (GateSettings(max_shared_cores=0.5), "--gate-max-shared-cores configures the loaderbench gate"),
])
def test_gate_options_without_a_baseline_are_refused(gate, message):
    with pytest.raises(ValueError, match=message):
        GateRun(gate=gate)


def test_combinations_that_have_an_effect_are_accepted():
    BenchSettings(extended=True, data_service="grpc://localhost:5050")
    BenchSettings(extended=True, service_workers=2)
    GateRun(gate_baseline=Path("baseline.json"), gate=GateSettings(threshold=0.2, mismatch="warn"))
    GateRun(gate=GateSettings())  # the defaults, as the options give them with no gate
    BenchSettings(accelerator=100.0, rounds=5, paired_reference=True)
    BenchSettings(dataset=Path("/data"), data_root=Path("/tmp/conversions"))  # where TFRecord shards go
    with pytest.raises(ValueError, match=r"--gate-threshold must be in \[0, 1\), got 1.5"):
        GateSettings(threshold=1.5)


@pytest.mark.parametrize(("options", "line"), [
    (["--service-workers", "2"], "options: --service-workers sizes the local tf.data service of the service cases, "
                                 "which run only with --extended: add --extended (or leave --service-workers out)"),
    (["--gate-threshold", "0.2"], "options: --gate-threshold configures the loaderbench gate, which runs only with "
                                  "--gate-baseline: add --gate-baseline PATH (or leave --gate-threshold out)"),
])
def test_a_run_with_options_that_would_do_nothing_stops_at_start(pytester, monkeypatch, tmp_path, options, line):
    assert_refused_at_start(bench_in_process(pytester, monkeypatch, tmp_path, *options), tmp_path, line)


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


def test_a_comma_separated_option_is_parsed_item_by_item_and_a_bad_one_named():
    assert parse_list("250, 500,,1000", int, "--sizes", "250,500") == (250, 500, 1000)
    assert parse_list("16GB,512MiB", parse_bytes, "--budgets", "16GB") == (16 * 10**9, 512 * 2**20)
    with pytest.raises(ValueError, match=r"--sizes 'a,b': .* \(example: 250,500\)"):
        parse_list("a,b", int, "--sizes", "250,500")
    with pytest.raises(ValueError, match="--budgets ' , ': a comma-separated list is needed"):
        parse_list(" , ", parse_bytes, "--budgets", "16GB")
