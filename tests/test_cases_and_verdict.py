"""The case matrix and its ids, the bottleneck verdict, and the summary table: given numbers -> right words."""

from __future__ import annotations

import math

import pytest

from pipelines.cases import EPOCHS, THROUGHPUT_CASES, TRAINING_CASES, case_id
from pipelines.config import Contract
from pipelines.report.summary import format_summary, summary_rows
from pipelines.verdict import loader_verdict, utilisation, verdict


def test_case_ids_read_as_loader_cache_placement_epoch():
    ids = [case_id(c, e) for c in THROUGHPUT_CASES for e in EPOCHS]
    assert "tfdata-file-uint8-warm" in ids and "idg-none-float32-cold" in ids
    assert len(ids) == len(set(ids))
    assert {c.loader for c in THROUGHPUT_CASES} == {"idg", "tfdata", "kerasdir"}
    for loader in ("tfdata", "kerasdir"):
        combos = {(c.cache, c.placement) for c in THROUGHPUT_CASES if c.loader == loader}
        assert combos == {("none", "uint8"), ("memory", "uint8"), ("memory", "float32"),
                          ("file", "uint8"), ("file", "float32")}


def test_idg_cache_cases_are_listed_and_skipped_with_the_reason():
    idg = {c.cache: c.skip_reason(Contract()) for c in THROUGHPUT_CASES if c.loader == "idg"}
    assert idg["none"] is None
    assert "has no cache" in idg["memory"] and "has no cache" in idg["file"]


def test_training_cases_cover_every_cache_mode():
    assert {(c.loader, c.cache) for c in TRAINING_CASES} >= {("tfdata", "file"), ("tfdata", "memory"),
                                                             ("tfdata", "none"), ("idg", "none")}


@pytest.mark.parametrize(("images", "model_ips", "epoch_s", "share", "word"), [
    (300, 30.0, 10.0, 1.0, "compute-bound"),
    (300, 30.0, 11.0, 0.909, "compute-bound"),
    (300, 30.0, 20.0, 0.5, "input-bound"),
    (1000, 500.0, 8.0, 0.25, "input-bound"),
])
def test_verdict_from_utilisation(images, model_ips, epoch_s, share, word):
    value = utilisation(images, model_ips, epoch_s)
    assert math.isclose(value, share, abs_tol=1e-3)
    assert verdict(value) == word


def test_verdict_edge_cases():
    assert verdict(0.9) == "compute-bound" and verdict(0.8999) == "input-bound"
    assert verdict(float("nan")) == "unknown"
    assert loader_verdict(500, 30) == "compute-bound" and loader_verdict(20, 30) == "input-bound"
    with pytest.raises(ValueError):
        utilisation(0, 30, 1)


RESULTS = [
    {"loader": "decode-limit", "cache": "none", "placement": "uint8", "epoch": "warm", "images_per_sec": 800.0,
     "dataset": "smoke-300-s0", "dataset_images": 300, "dataset_bytes": 5_000_000, "device": "CPU: x86_64",
     "cpu_count": 2, "tensorflow": "2.21.0"},
    {"loader": "tfdata", "cache": "file", "placement": "uint8", "epoch": "warm", "images_per_sec": 2000.0,
     "decode_limit_pct": 250.0, "first_batch_s": 0.01, "cache_bytes": 45_000_000},
    {"loader": "tfdata", "cache": "file", "placement": "uint8", "epoch": "cold", "images_per_sec": 600.0,
     "cache_bytes": 45_000_000},
    {"loader": "model-only", "cache": "none", "placement": "float32", "epoch": "warm", "model_images_per_sec": 30.0},
    {"loader": "tfdata", "cache": "file", "placement": "uint8", "epoch": "warm", "images_per_sec": 29.0,
     "epoch_s": 10.3, "utilisation": 0.97, "verdict": "compute-bound", "speedup_vs_idg": 1.2},
    {"loader": "idg", "cache": "none", "placement": "float32", "epoch": "warm", "images_per_sec": 20.0,
     "decode_limit_pct": 2.5},
]


def test_summary_merges_throughput_and_training_per_case():
    rows = {r["case"]: r for r in summary_rows(RESULTS)}
    assert set(rows) == {"tfdata-file-uint8", "idg-none-float32"}
    tf_row = rows["tfdata-file-uint8"]
    assert (tf_row["warm_ips"], tf_row["cold_ips"], tf_row["train_warm_s"]) == (2000.0, 600.0, 10.3)
    assert tf_row["verdict"] == "compute-bound"
    assert rows["idg-none-float32"]["verdict"] == "input-bound"  # 20 img/s < the model's 30


def test_summary_text_has_references_and_readable_cells():
    text = format_summary(RESULTS)
    assert "decode limit (read+decode+resize, all cores): 800 img/s" in text
    assert "model alone (in-memory tensors): 30.0 img/s" in text
    line = next(l for l in text.splitlines() if l.startswith("tfdata-file-uint8"))
    for cell in ("2000", "600", "250%", "45.0 MB", "10.30", "1.20x", "97%", "compute-bound"):
        assert cell in line
    assert format_summary([]) == "no loader results recorded"


def test_bottleneck_prefers_throughputs_and_falls_back_to_utilisation():
    from pipelines.verdict import bottleneck

    assert bottleneck(900.0, 40.0, 0.7) == "compute-bound"  # loader 22x faster than the model
    assert bottleneck(30.0, 40.0, 0.95) == "input-bound"  # loader slower than the model starves it
    assert bottleneck(None, 40.0, 0.95) == "compute-bound" and bottleneck(None, 40.0, 0.5) == "input-bound"
