"""The case matrix and its ids, the bottleneck verdict, and the summary table: given numbers -> right words."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pipelines.harness.cases import EPOCH_KINDS, THROUGHPUT_CASES, TRAINING_CASES, case_id, throughput_cases
from pipelines.caches.modes import CACHE_SPECS, CacheSpec
from pipelines.loaders.contract import Contract
from pipelines.harness.rounds import TimedEpochs
from pipelines.loaders.registry import LOADER_SPECS, LoaderSpec
from pipelines.epoch.run import EpochRun, Rate
from pipelines.harness.records import training_info
from pipelines.report.summary import format_summary, summary_rows
from pipelines.harness.verdict import COMPUTE_BOUND_AT, noise_band, utilisation, verdict
from tests.helpers import bench_in_process

#: ``pytester``: the benchmark collections run in this process (tests/helpers.py).
pytest_plugins = ("pytester",)


def test_case_ids_read_as_loader_cache_placement_epoch():
    ids = [case_id(c, e) for c in THROUGHPUT_CASES for e in EPOCH_KINDS]
    assert "tfdata-file-uint8-warm" in ids and "idg-none-float32-cold" in ids
    assert len(ids) == len(set(ids))
    default = [c for c in THROUGHPUT_CASES if not c.extended]
    assert {c.loader for c in default} == {"idg", "idg-processes", "tfdata", "tfdata-fast", "kerasdir"}
    assert {(c.cache, c.placement) for c in default if c.loader == "tfdata-fast"} == {("none", "uint8")}
    for loader in ("tfdata", "kerasdir"):
        combos = {(c.cache, c.placement) for c in default if c.loader == loader}
        assert combos == {("none", "uint8"), ("memory", "uint8"), ("memory", "float32"),
                          ("file", "uint8"), ("file", "float32")}


def test_the_extended_group_is_tfrecord_the_service_the_persistent_caches_grain_and_dali():
    extended = {c.id for c in THROUGHPUT_CASES if c.extended}
    # Grain and DALI cache nothing: no cache case
    optional = {"grain-none-uint8", "kerasdir-grain-none-uint8", "dali-none-uint8"}
    persistent = {f"tfdata-{cache}-{placement}" for cache in ("snapshot", "save", "save-gzip")
                  for placement in ("uint8", "float32")}
    tfrecord = {"tfrecord-none-uint8"} | {f"tfrecord-{cache}-{placement}" for cache in ("memory", "file")
                                          for placement in ("uint8", "float32")}
    service = {"tfdata-service-none-uint8", "tfdata-service-hosts-none-uint8"}
    assert extended == persistent | tfrecord | optional | service
    assert all(c.on_service == c.loader.startswith("tfdata-service") for c in THROUGHPUT_CASES)


@pytest.mark.slow
def test_extended_cases_are_collected_only_with_the_option(pytester, monkeypatch, tmp_path):
    """``--extended`` adds the group to the run, ``-m extended`` narrows to it; the default run is unchanged"""
    def collected(*args: str) -> set[str]:
        done = bench_in_process(pytester, monkeypatch, tmp_path, "--collect-only", "-k", "throughput", *args)
        assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
        return {line.split("[", 1)[1].rstrip("]") for line in done.stdout.splitlines() if "test_throughput[" in line}

    extended = {case_id(c, e) for c in THROUGHPUT_CASES if c.extended for e in EPOCH_KINDS}
    everything = {case_id(c, e) for c in THROUGHPUT_CASES for e in EPOCH_KINDS}
    assert collected() == everything - extended
    assert collected("--extended") == everything
    assert collected("--extended", "-m", "extended") == extended


def test_the_declarations_drive_the_cases():
    """a new loader spec adds its cases; a new cache mode is one declaration, offered by the loaders that say so"""
    assert throughput_cases(LOADER_SPECS.values()) == THROUGHPUT_CASES
    snapshot = CacheSpec("snapshot", "disk", element_overhead=60)
    caches = {**CACHE_SPECS, "snapshot": snapshot}
    new = LoaderSpec("tfrecord", "TFRecord shards", "pipelines.loaders.tfdata", "build_tfdata_pipeline",
                     caches=("none", "memory", "snapshot"))
    assert [c.id for c in throughput_cases([new], caches)] == [
        "tfrecord-none-uint8", "tfrecord-memory-uint8", "tfrecord-memory-float32", "tfrecord-snapshot-uint8",
        "tfrecord-snapshot-float32"]
    assert [c.id for c in throughput_cases([LOADER_SPECS["idg"]], caches)] == [
        "idg-none-float32", "idg-memory-float32", "idg-file-float32"]  # listed, not offered: skipped with reason
    assert not LOADER_SPECS["tfdata-fast"].trained and all(c.loader != "tfdata-fast" for c in TRAINING_CASES)


def test_idg_cache_cases_are_listed_and_skipped_with_the_reason():
    idg = {c.cache: c.skip_reason(Contract()) for c in THROUGHPUT_CASES if c.loader == "idg"}
    assert idg["none"] is None
    assert "has no cache" in idg["memory"] and "has no cache" in idg["file"]


def test_training_cases_cover_every_cache_mode():
    assert {(c.loader, c.cache) for c in TRAINING_CASES} >= {("tfdata", "file"), ("tfdata", "memory"),
                                                             ("tfdata", "none"), ("idg", "none")}


@pytest.mark.parametrize(("images", "model_ips", "epoch_s", "share"), [
    (300, 30.0, 10.0, 1.0), (300, 30.0, 11.0, 0.909), (300, 30.0, 20.0, 0.5), (1000, 500.0, 8.0, 0.25),
])
def test_utilisation_is_model_time_over_epoch_time(images, model_ips, epoch_s, share):
    assert math.isclose(utilisation(images, model_ips, epoch_s), share, abs_tol=1e-3)


@pytest.mark.parametrize(("share", "band", "cpu_only", "word"), [
    (1.0, 0.02, False, "compute-bound"),         # the model alone is as fast: the loader keeps up
    (0.62, 0.05, False, "input-bound"),          # the ImageDataGenerator row: 62% is not compute-bound
    (0.62, 0.05, True, "input-bound (shares CPU)"),
    (0.93, 0.05, False, "within noise"),         # 93% +- 5% straddles 90%: no claim either way
    (0.86, 0.05, True, "within noise (shares CPU)"),
    (0.95, 0.0, True, "compute-bound"),          # keeping up is keeping up, shared CPU or not
    (0.9, 0.0, False, "compute-bound"), (0.8999, 0.0, False, "input-bound"),
])
def test_verdict_on_hand_made_results(share, band, cpu_only, word):
    assert verdict(share, band, cpu_only) == word


@given(st.floats(0.05, 3.0), st.floats(0.0, 0.5), st.booleans())
def test_property_no_verdict_contradicts_its_utilisation(share, band, cpu_only):
    """a compute-bound verdict has utilisation at or above 90%, an input-bound one below, whatever the noise"""
    word = verdict(share, band, cpu_only)
    if word == "compute-bound":
        assert share >= COMPUTE_BOUND_AT and share * (1 - band) >= COMPUTE_BOUND_AT
    elif word.startswith("input-bound"):
        assert share < COMPUTE_BOUND_AT and share * (1 + band) < COMPUTE_BOUND_AT
    else:
        assert word.startswith("within noise") and share * (1 - band) < COMPUTE_BOUND_AT <= share * (1 + band)
    assert word.endswith("(shares CPU)") == (cpu_only and word != "compute-bound")


def test_verdict_edge_cases():
    assert verdict(float("nan")) == "unknown"
    assert noise_band(0.03, None, float("nan"), 0.02) == pytest.approx(0.05)
    with pytest.raises(ValueError):
        utilisation(0, 30, 1)


def _timed(epoch_times: list[float], images: int = 300) -> TimedEpochs:
    return TimedEpochs(runs=[EpochRun(images, 10, t, 0.01) for t in epoch_times], round_seconds=epoch_times)


@pytest.mark.parametrize(("rounds", "median"), [
    ([4.0, 1.0, 2.0], 2.0),       # odd count, unsorted: neither the first, the fastest nor the slowest round
    ([8.0, 1.0, 4.0, 2.0], 3.0),  # even count: the mean of the middle two, a value no round took
])
def test_images_per_sec_is_images_over_the_median_round(rounds, median):
    """rounds of different lengths: the reported rate is images / median seconds per epoch, not the fastest
    round's (min) nor the mean's; every figure a record carries is built from it"""
    from pipelines.harness.records import reference_info

    timed = _timed(rounds, images=300)
    assert timed.median_seconds() == median
    assert timed.images_per_sec() == pytest.approx(300 / median)
    rate = Rate.of(timed)
    assert rate.epoch_s == median and rate.images_per_sec == pytest.approx(300 / median)
    assert reference_info("decode-limit", timed)["images_per_sec"] == round(300 / median, 2)
    assert reference_info("machine-limit", timed, cores=2)["images_per_sec"] == round(2 * 300 / median, 2)
    # without pytest-benchmark's per-round figures, the timed epochs' own times are the rounds
    untimed = TimedEpochs(runs=[EpochRun(300, 10, t, 0.01) for t in rounds])
    assert untimed.images_per_sec() == pytest.approx(300 / median)


def test_training_verdicts_agree_with_their_own_utilisation_and_speedup():
    """ImageDataGenerator at 62% utilisation is input-bound, and the loader that trains 1.5x faster is not"""
    model = Rate(images_per_sec=300 / 6.2, spread=0.01, epoch_s=6.2)
    idg = training_info(_timed([10.0, 10.1, 9.9]), model, None, "CPU: x86_64")
    idg_rate = Rate(30.0, 0.01, 10.0)
    fast = training_info(_timed([6.6, 6.7, 6.6]), model, idg_rate, "CPU: x86_64")
    assert idg["verdict"] == "input-bound (shares CPU)" and idg["utilisation"] == 0.62
    assert fast["speedup_vs_idg"] == pytest.approx(10.0 / 6.6, abs=1e-3)
    assert fast["verdict"] == "compute-bound" and fast["utilisation"] >= COMPUTE_BOUND_AT
    noisy = training_info(_timed([6.0, 7.4, 6.7]), model, idg_rate, "GPU: H100")
    assert noisy["verdict"] == "within noise"  # 93% +- 10%: the spread forbids a claim


RESULTS = [
    {"loader": "decode-limit", "cache": "none", "placement": "uint8", "epoch": "warm", "images_per_sec": 800.0,
     "spread": 0.03, "dataset": "smoke-300-s0", "dataset_images": 300, "dataset_bytes": 5_000_000,
     "device": "CPU: x86_64", "cpu_count": 2, "tensorflow": "2.21.0"},
    {"loader": "machine-limit", "cache": "none", "placement": "uint8", "epoch": "warm", "images_per_sec": 1000.0,
     "one_thread_images_per_sec": 500.0, "cores": 2, "spread": 0.05},
    {"loader": "tfdata", "cache": "file", "placement": "uint8", "epoch": "warm", "images_per_sec": 2000.0,
     "spread": 0.04, "machine_limit_pct": 200.0, "first_batch_s": 0.01, "cache_bytes": 45_000_000,
     "cache_resident": 0.0, "cache_filesystem": "ext4", "cache_on_ram": False},
    {"loader": "tfdata", "cache": "file", "placement": "uint8", "epoch": "cold", "images_per_sec": 600.0,
     "spread": 0.1, "cache_bytes": 45_000_000, "page_cache": "not-evicted", "page_cache_resident": 1.0},
    {"loader": "model-only", "cache": "none", "placement": "float32", "epoch": "warm", "images_per_sec": 30.0,
     "model_images_per_sec": 30.0, "spread": 0.02, "epoch_s": 10.0},
    {"loader": "tfdata", "cache": "file", "placement": "uint8", "epoch": "warm", "images_per_sec": 29.0,
     "epoch_s": 10.3, "epoch_spread": 0.01, "utilisation": 0.97, "noise_band": 0.03, "verdict": "compute-bound",
     "speedup_vs_idg": 1.2, "speedup_spread": 0.05},
    {"loader": "idg", "cache": "none", "placement": "float32", "epoch": "warm", "images_per_sec": 20.0,
     "spread": 0.02, "machine_limit_pct": 2.0, "baseline": True},
    {"case": "idg-processes-none-float32", "loader": "idg-processes", "cache": "none", "placement": "float32",
     "epoch": "warm", "images_per_sec": 15.0, "spread": 0.02, "baseline": True},
    {"loader": "tfdata-fast", "cache": "none", "placement": "uint8", "epoch": "warm", "images_per_sec": 3000.0,
     "spread": 0.02, "pixel_diff_mean": 3.05, "pixel_diff_max": 69.0, "pixel_diff_images": 128},
    {"loader": "kerasdir", "cache": "file", "placement": "uint8", "epoch": "warm", "images_per_sec": 2000.0,
     "spread": 0.04, "cache_bytes": 45_000_000, "cache_resident": 1.0, "cache_filesystem": "tmpfs",
     "cache_on_ram": True},
]


def test_summary_merges_throughput_and_training_per_case():
    rows = {r["case"]: r for r in summary_rows(RESULTS)}
    assert set(rows) == {"tfdata-file-uint8", "idg-none-float32", "idg-processes-none-float32", "tfdata-fast-none-uint8",
                         "kerasdir-file-uint8"}
    tf_row = rows["tfdata-file-uint8"]
    assert (tf_row["warm_ips"], tf_row["cold_ips"], tf_row["train_warm_s"]) == ((2000.0, 0.04), (600.0, 0.1),
                                                                                (10.3, 0.01))
    assert tf_row["verdict"] == "compute-bound"
    assert "verdict" not in rows["idg-none-float32"]  # no training ran: no verdict is made up from throughput


def test_summary_text_has_references_spreads_and_caveats():
    text = format_summary(RESULTS)
    assert "decode limit (tf.data read+decode+resize, all cores): 800 ±3% img/s" in text
    assert "machine limit (one thread 500 ±5% img/s x 2 cores): 1000 ±5% img/s" in text
    assert "model alone (in-memory tensors): 30.0 ±2% img/s" in text
    line = next(l for l in text.splitlines() if l.startswith("tfdata-file-uint8"))
    for cell in ("2000 ±4%", "600 ±10%", "200%", "45.0 MB", "10.30 ±1%", "1.20x ±5%", "97±3%", "compute-bound"):
        assert cell in line
    assert "tfdata-file-uint8-cold: its JPEGs could not be evicted (100% resident)" in text
    assert "kerasdir-file-uint8-warm: the file cache is on tmpfs, a RAM-backed file system" in text
    assert "tfdata-fast-none-uint8-warm: pixels differ from the exact decode by 3.05/255" in text
    assert "ImageDataGenerator workers (warm img/s): idg 20, idg-processes 15" in text
    assert "file caches (ext4, tmpfs): flushed and evicted before every warm epoch; at most 100%" in text
    assert format_summary([]) == "no loader results recorded"
