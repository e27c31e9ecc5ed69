"""Memory checks: the predictor against hand-computed sizes and against measurements, marking, plan, profile."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from PIL import Image

from pipelines.caches.folders import cache_bytes
from pipelines.caches.modes import CACHE_SPECS
from pipelines.loaders.contract import Contract
from pipelines.loaders import open_pipeline
from pipelines.epoch.run import run_epoch
from pipelines.memory import exceeds_budget, exceeds_disk, free_disk, predict_cache
from pipelines.memory.__main__ import main as memory_cli
from pipelines.memory.predict import SAFETY_MARGIN, WORKING_SET_BYTES
from pipelines.memory.profile import profile_case
from tests.conftest import SMALL_CONTRACT
from tests.helpers import bench_in_process

#: ``pytester``: the benchmark collections run in this process (tests/helpers.py).
pytest_plugins = ("pytester",)

ROOT = Path(__file__).resolve().parents[1]


@given(images=st.integers(1, 200_000), height=st.integers(1, 512), width=st.integers(1, 512),
       placement=st.sampled_from(["uint8", "float32"]), cache=st.sampled_from(["memory", "file"]),
       shuffle=st.booleans())
def test_prediction_is_pixels_times_dtype_plus_label_and_overhead(images, height, width, placement, cache, shuffle):
    contract = Contract(image_size=(height, width), cache=cache, placement=placement, shuffle=shuffle)
    p = predict_cache(images, contract)
    per_image = height * width * 3 * {"uint8": 1, "float32": 4}[placement] + 4
    assert p.bytes_per_image == per_image
    assert p.total_bytes == images * (per_image + CACHE_SPECS[cache].element_overhead)
    assert p.shuffle_buffer_bytes == (min(images, contract.shuffle_buffer) * per_image if shuffle else 0)


def test_the_studys_file_cache_explained():
    """117,266 images at 224x224x3 float32 = 602,112 bytes each: ~70.6 GB, ~4x the 18 GB of JPEGs"""
    p = predict_cache(117_266, Contract(cache="file", placement="float32"))
    assert p.bytes_per_image == 602_116
    assert 70.6e9 < p.total_bytes < 70.7e9


@pytest.mark.parametrize("placement", ["uint8", "float32"])
def test_file_cache_prediction_matches_bytes_on_disk(tiny_dataset, tmp_path, placement):
    contract = SMALL_CONTRACT.with_(cache="file", placement=placement, cache_dir=tmp_path)
    with open_pipeline("tfdata", tiny_dataset, contract) as pipeline:
        run_epoch(pipeline)
        measured = cache_bytes(pipeline.cache_prefix)
    predicted = predict_cache(tiny_dataset.images, contract).total_bytes
    assert abs(measured - predicted) <= 10 * tiny_dataset.images  # within 10 bytes an element


def test_exceeds_budget_gives_predicted_and_available_bytes():
    p = predict_cache(10_000, Contract(cache="memory", placement="float32"))
    reason = exceeds_budget(p, 10**9)
    assert reason and f"{p.total_bytes:,} bytes" in reason and "1,000,000,000 bytes" in reason
    needed = int(p.ram_bytes * SAFETY_MARGIN) + WORKING_SET_BYTES
    assert exceeds_budget(p, needed) is None and exceeds_budget(p, needed - 1)
    assert exceeds_budget(predict_cache(10_000, Contract(cache="file")), 1) is None  # a file cache uses disk


_MEASURE = """
import json, sys
from pipelines.datasets.presets import Preset
from pipelines.loaders.contract import Contract
from pipelines.datasets import generate, index_dataset
from pipelines.loaders import open_pipeline
from pipelines.epoch.run import run_epoch
from pipelines.memory import predict_cache
from pipelines.memory.measure import measure_memory
if __name__ == "__main__":
    folder = sys.argv[1]
    generate(Preset(name="m", images=400, classes=4, sizes=(((64, 48), 1.0),), target_bytes=2000), folder,
             progress=False)
    index = index_dataset(folder)
    with open_pipeline("tfdata", index, Contract(shuffle=False)) as warmup:  # TensorFlow's own start-up memory
        run_epoch(warmup)
    contract = Contract(shuffle=sys.argv[2] == "shuffle", cache="memory", placement="float32")
    with open_pipeline("tfdata", index, contract) as pipeline:
        _, figures = measure_memory(run_epoch, pipeline)
    print(json.dumps({"growth": figures.rss_growth_bytes, "peak": figures.peak_rss_bytes,
                      "buffer": predict_cache(index.images, contract).shuffle_buffer_bytes,
                      "predicted": predict_cache(index.images, contract).total_bytes,
                      "uint8": predict_cache(index.images, contract.with_(placement="uint8")).total_bytes}))
"""


@pytest.fixture(scope="module")
def measured_growth(tmp_path_factory):
    """``measured_growth(shuffle)``: :func:`_measured_growth`'s figures, each measured once for the module (the
    in-order fill is read by two tests; every measurement is still a fresh process of its own)."""
    folder = tmp_path_factory.mktemp("measured")
    figures: dict[bool, dict] = {}

    def growth(shuffle: bool) -> dict:
        if shuffle not in figures:
            figures[shuffle] = _measured_growth(folder, shuffle)
        return figures[shuffle]

    return growth


@pytest.mark.slow
def test_measured_rss_growth_agrees_with_the_prediction(measured_growth):
    """filling a 241 MB float32 memory cache grows RSS by the prediction, plus at most 15% and 128 MB of working set

    Run in a fresh process so that memory freed by earlier tests cannot be reused and hide the growth.
    """
    figures = measured_growth(False)

    def agrees(predicted: int) -> bool:
        return 0.9 * predicted <= figures["growth"] <= 1.15 * predicted + 128 * 2**20

    assert agrees(figures["predicted"]), figures
    assert not agrees(figures["uint8"]), figures  # the check can tell a wrong prediction
    assert figures["peak"] >= figures["growth"]


def _measured_growth(tmp_path: Path, shuffle: bool) -> dict:
    """_MEASURE in a fresh process, so that memory freed by earlier tests cannot be reused and hide the growth."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "TF_CPP_MIN_LOG_LEVEL": "2"}
    run = subprocess.run([sys.executable, "-c", _MEASURE, str(tmp_path / "d"), "shuffle" if shuffle else "in-order"],
                         capture_output=True, text=True, env=env, timeout=600, cwd=ROOT)
    assert run.returncode == 0, run.stderr[-2000:]
    return json.loads(run.stdout.strip().splitlines()[-1])


@pytest.mark.slow
def test_a_shuffle_over_a_memory_cache_holds_no_ram_of_its_own(measured_growth):
    """the 241 MB buffer (the whole dataset) shuffles the cache's own tensors: RSS grows as without it, and the
    predictor counts the cache alone"""
    in_order, shuffled = measured_growth(False), measured_growth(True)
    assert shuffled["buffer"] > 200 * 10**6
    assert shuffled["growth"] < in_order["growth"] + shuffled["buffer"] / 2, (in_order, shuffled)
    p = predict_cache(400, Contract(cache="memory", placement="float32"))
    assert p.shuffle_buffer_bytes > 0 and p.ram_bytes == p.total_bytes
    read_back = predict_cache(400, Contract(cache="file"))  # elements read back from disk: the buffer is RAM
    assert read_back.ram_bytes == read_back.shuffle_buffer_bytes > 0


#: What :func:`_pytest_benchmarks` selects and sets, for the collections run in this process instead (which adds
#: its ``-q``).
_SELECTION = ("--ignore=benchmarks/test_training.py", "--images", "6", "--benchmark-disable", "-rs")


def _pytest_benchmarks(args: list[str], tmp_path: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "LOADERBENCH_DATA": str(tmp_path / "data")}
    return subprocess.run([sys.executable, "-m", "pytest", "benchmarks/test_throughput.py", "-p", "no:cacheprovider",
                           "--images", "6", "--benchmark-disable", "-rs", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=600)


@pytest.mark.slow
def test_tiny_ram_budget_skips_exactly_the_memory_cache_cases(pytester, monkeypatch, tmp_path):
    run = _pytest_benchmarks(["-k", "tfdata-memory or tfdata-none", "--ram-budget", "100MB"], tmp_path)
    assert run.returncode == 0, run.stdout[-3000:]
    assert "2 passed, 4 skipped" in run.stdout
    # -rs groups equal reasons: one line per placement, each for its cold and warm case
    assert run.stdout.count("exceeds RAM: the") == 2 and run.stdout.count("SKIPPED [2]") == 2
    assert "100,000,000 bytes) is available" in run.stdout
    selected = bench_in_process(pytester, monkeypatch, tmp_path, *_SELECTION, "-m", "exceeds_ram", "--ram-budget",
                                "100MB", "--collect-only")
    ids = [line for line in selected.stdout.splitlines() if "::" in line]
    assert len(ids) == 8 and all("-memory-" in i for i in ids)  # tfdata and kerasdir, 2 placements, cold/warm


@pytest.mark.slow
def test_file_caches_beyond_the_free_disk_are_marked_before_anything_is_generated(pytester, monkeypatch, tmp_path):
    """two million coco2017-shaped images: every file cache exceeds this disk, on paper, at collection"""
    selected = bench_in_process(pytester, monkeypatch, tmp_path, *_SELECTION, "-m", "exceeds_disk", "--preset",
                                "coco2017", "--images", "2000000", "--cache-dir", str(tmp_path / "caches"),
                                "--collect-only")
    ids = [line for line in selected.stdout.splitlines() if "::" in line]
    assert len(ids) == 8 and all("-file-" in i for i in ids), selected.stdout[-2000:]
    assert not (tmp_path / "data").exists()  # nothing generated to find that out


def test_plan_reproduces_the_studys_crash_on_paper(capsys):
    assert memory_cli(["plan", "--preset", "coco2017", "--ram-budget", "16GB"]) == 0
    out = capsys.readouterr().out
    lines = {tuple(line.split()[:2]): line for line in out.splitlines()[2:]}
    assert "NO" in lines["memory", "float32"] and "does not fit" in lines["memory", "float32"]
    assert "70.6 GB" in lines["file", "float32"] and "3.9x" in lines["file", "float32"]
    assert "117,266 images, 18.0 GB of JPEGs" in out
    with pytest.raises(SystemExit) as refused:  # argparse's refusal: one line, exit 2
        memory_cli(["plan", "--preset", "smoke", "--ram-budget", "lots"])
    assert refused.value.code == 2


def test_profile_writes_a_timeline_and_a_plot(tiny_dataset, tmp_path):
    record = profile_case(tiny_dataset, "tfdata", SMALL_CONTRACT.with_(cache="memory", placement="float32"), 2,
                          tmp_path)
    saved = json.loads((tmp_path / "tfdata-memory-float32.json").read_text())
    assert saved["timeline"] and saved["predicted_cache_bytes"] == record["predicted_cache_bytes"] > 0
    assert len(saved["epoch_s"]) == 2
    with Image.open(tmp_path / "tfdata-memory-float32.png") as image:
        assert image.format == "PNG" and image.width > 100


def test_a_file_cache_larger_than_the_free_disk_is_skipped_with_both_numbers(tmp_path):
    prediction = predict_cache(117_266, Contract(cache="file", placement="float32"))
    reason = exceeds_disk(prediction, 10 * 10**9, tmp_path)
    assert reason.startswith("exceeds disk") and f"{prediction.total_bytes:,} bytes" in reason
    assert "10,000,000,000 bytes" in reason and str(tmp_path) in reason and "--cache-dir" in reason
    assert exceeds_disk(prediction, prediction.total_bytes, tmp_path) is None
    assert exceeds_disk(predict_cache(10, Contract(cache="memory")), 0) is None  # RAM is the budget's business
    assert free_disk(tmp_path / "not" / "made" / "yet") > 0  # a --cache-dir not made yet: its parent's disk


def test_file_systems_that_live_in_ram_are_recognised(monkeypatch):
    from collections import namedtuple

    from pipelines.caches import pagecache

    Part = namedtuple("Part", "device mountpoint fstype opts")
    parts = [Part("/dev/vda", "/", "ext4", ""), Part("tmpfs", "/tmp", "tmpfs", ""),
             Part("/dev/vdb", "/tmp/disk", "xfs", "")]
    monkeypatch.setattr("psutil.disk_partitions", lambda all=True: parts)
    assert pagecache.filesystem_of(Path("/tmp/x/cache")) == "tmpfs"
    assert pagecache.filesystem_of(Path("/tmp/disk/cache")) == "xfs"  # the deepest mount wins
    assert pagecache.filesystem_of(Path("/home/me")) == "ext4"
    assert pagecache.is_ram_backed("tmpfs") and not pagecache.is_ram_backed("ext4")
    assert not pagecache.is_ram_backed(None)
