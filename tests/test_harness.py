"""The timing harness: a round is one whole epoch, cold rounds start fresh, and the suite runs end to end."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from pipelines.harness import time_epochs
from pipelines.loaders import open_pipeline
from pipelines.measure import run_epoch
from tests.conftest import SMALL_CONTRACT

ROOT = Path(__file__).resolve().parents[1]


class FakeBenchmark:
    """Just enough of pytest-benchmark's fixture: ``pedantic`` with setup and teardown, no timing."""

    def __init__(self):
        self.rounds_run = 0
        self.stats = None

    def pedantic(self, target, args=(), kwargs=None, setup=None, teardown=None, rounds=1, warmup_rounds=0):
        for _ in range(rounds):
            if setup:
                args, kwargs = setup()
            target(*args, **(kwargs or {}))
            self.rounds_run += 1
            if teardown:
                teardown(*args, **(kwargs or {}))


@pytest.mark.parametrize("epoch", ["cold", "warm"])
def test_every_round_is_one_whole_epoch(tiny_dataset, tmp_path, epoch):
    opened = []

    def opener():
        opened.append(1)
        return open_pipeline("tfdata", tiny_dataset, SMALL_CONTRACT.with_(cache="file", cache_dir=tmp_path))

    bench = FakeBenchmark()
    timed = time_epochs(bench, opener, run_epoch, epoch, rounds=3)
    assert bench.rounds_run == 3 and len(timed.runs) == 3
    assert timed.images == tiny_dataset.images
    assert all(run.batches == 3 for run in timed.runs)  # 11 images in batches of 4
    assert len(opened) == (3 if epoch == "cold" else 1)  # cold: a fresh pipeline, and cache, every round
    assert timed.cache_bytes > 0
    assert list(tmp_path.iterdir()) == []  # every cache folder removed
    if epoch == "cold":
        assert timed.page_cache in ("evicted", "warm")  # measured, whatever the file system allows
    else:
        assert timed.page_cache == "warm"


def test_rounds_that_disagree_on_the_image_count_fail(tiny_dataset):
    from pipelines.harness import TimedEpochs
    from pipelines.measure import EpochRun

    timed = TimedEpochs(runs=[EpochRun(11, 3, 1.0, 0.1), EpochRun(8, 2, 1.0, 0.1)])
    with pytest.raises(AssertionError, match="different image counts"):
        _ = timed.images


def _run_pytest(args, tmp_path, env_extra=None):
    env = {**os.environ, "LOADERBENCH_DATA": str(tmp_path / "data"), **(env_extra or {})}
    return subprocess.run([sys.executable, "-m", "pytest", *args], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=900)


@pytest.mark.slow
def test_benchmark_suite_runs_every_case_on_a_tiny_dataset(tmp_path):
    """the real benchmark modules, on 6 images: every case passes its own image-count check, JSON explains itself"""
    out = tmp_path / "run.json"
    result = _run_pytest(["benchmarks", "-p", "no:cacheprovider", "--images", "6", "--rounds", "1", "--alpha",
                          "0.25", "--batch-size", "4", f"--benchmark-json={out}", "-q"], tmp_path)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "loaderbench summary" in result.stdout
    runs = json.loads(out.read_text())["benchmarks"]
    names = {b["name"] for b in runs}
    assert "test_throughput[tfdata-file-uint8-warm]" in names and "test_training[idg-none-float32-cold]" in names
    for bench in runs:
        info = bench["extra_info"]
        assert info["images"] == 6 and info["dataset_images"] == 6
        assert {"device", "cpu_count", "tensorflow", "dataset"} <= set(info)
        if bench["name"].startswith("test_throughput["):
            assert info["images_per_sec"] > 0 and info["decode_limit_pct"] > 0
            assert info["page_cache"] in ("evicted", "warm", "unknown")
            assert (info["cache_bytes"] > 0) == (info["cache"] == "file")
        if bench["name"].startswith("test_training["):
            assert info["verdict"] in ("input-bound", "compute-bound") and info["epoch_s"] > 0


def test_tensorflow_never_warns_of_a_partly_read_memory_cache(tmp_path):
    """epochs are consumed whole: no 'did not fully read' warning -- and the check sees one when it happens

    Only the memory cache is checked this way: TensorFlow 2.21 logs the same warning after *every* completed
    file cache (its writer looks for the shard's index after merging the shards away), so for the file cache
    completeness is checked on disk instead (test_loaders: index present, no lockfile, readable alone).
    """
    script = f"""
import sys
from pipelines.config import Contract
from pipelines.datasets import generate, index_dataset
from pipelines.loaders import open_pipeline
from pipelines.measure import run_epoch
from tests.conftest import TINY
generate(TINY, r"{tmp_path / 'd'}", progress=False)
index = index_dataset(r"{tmp_path / 'd'}")
contract = Contract(image_size=(16, 16), batch_size=2, shuffle=False, cache="memory")
with open_pipeline("tfdata", index, contract) as pipeline:
    if sys.argv[1] == "partial":
        iterator = iter(pipeline.fit_input)
        next(iterator)
        del iterator
    else:
        run_epoch(pipeline)
        run_epoch(pipeline)
print("done", flush=True)
"""
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "0", "PYTHONPATH": str(ROOT)}
    outputs = {}
    for mode in ("partial", "whole"):
        run = subprocess.run([sys.executable, "-c", script, mode], env=env, capture_output=True, text=True,
                             timeout=300, cwd=ROOT)
        assert "done" in run.stdout, run.stderr[-2000:]
        outputs[mode] = run.stderr
    assert "did not fully read the dataset being cached" in outputs["partial"]
    assert "did not fully read" not in outputs["whole"]
