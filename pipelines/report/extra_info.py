"""The ``benchmark.extra_info`` keys every case records (see the README's "What each number means")."""

from __future__ import annotations

from typing import Any

from pipelines.cases import Case
from pipelines.config import Contract
from pipelines.datasets import DatasetIndex
from pipelines.harness import TimedEpochs
from pipelines.memory import predict_cache
from pipelines.verdict import bottleneck, utilisation


def memory_info(case: Case, timed: TimedEpochs, index: DatasetIndex, contract: Contract) -> dict[str, Any]:
    """Predicted against measured cache cost.

    ``measured_vs_predicted``: for a file cache, bytes on disk / predicted cache bytes; for a memory cache,
    the fill epoch's peak RSS growth / predicted RAM (cache + shuffle buffer), which also holds the pipeline's
    working set (README, "Memory checks").
    """
    if case.cache == "none":
        return {}
    prediction = predict_cache(index.images, contract)
    if case.cache == "file":
        measured, expected = timed.cache_bytes, prediction.total_bytes
    else:
        measured, expected = timed.peak_growth_bytes, prediction.ram_bytes
    return {
        "predicted_cache_bytes": prediction.total_bytes,
        "predicted_ram_bytes": prediction.ram_bytes,
        "peak_rss_bytes": timed.peak_rss_bytes,
        "rss_growth_bytes": timed.rss_growth_bytes,
        "peak_growth_bytes": timed.peak_growth_bytes,
        "measured_vs_predicted": round(measured / expected, 3) if measured and expected else None,
        # on disk for a file cache; predicted for a memory cache (RSS also holds the working set)
        "cache_vs_jpeg": round((timed.cache_bytes if case.cache == "file" else prediction.total_bytes) / index.bytes, 2),
    }


def dataset_info(index: DatasetIndex) -> dict[str, Any]:
    return {"dataset": index.name, "dataset_images": index.images, "dataset_bytes": index.bytes,
            "dataset_classes": len(index.class_names)}


def case_info(case: Case, epoch: str, timed: TimedEpochs, rate: float, decode_limit: float | None) -> dict[str, Any]:
    info: dict[str, Any] = {
        "loader": case.loader,
        "cache": case.cache,
        "placement": case.placement,
        "epoch": epoch,
        "images": timed.images,
        "images_per_sec": round(rate, 2),
        "first_batch_s": round(timed.median_first_batch_s(), 4),
        "page_cache": timed.page_cache,
        "page_cache_resident": timed.page_cache_resident,
        "cache_bytes": timed.cache_bytes,
    }
    if decode_limit:
        info["decode_limit_images_per_sec"] = round(decode_limit, 2)
        info["decode_limit_pct"] = round(100 * rate / decode_limit, 1)
    return info


def training_info(timed: TimedEpochs, model_images_per_sec: float, idg_epoch_s: float | None,
                  loader_images_per_sec: float | None) -> dict[str, Any]:
    """``loader_images_per_sec``: the same case's warm throughput from this session, if it ran."""
    epoch_s = timed.median_seconds()
    share = utilisation(timed.images, model_images_per_sec, epoch_s)
    return {
        "epoch_s": round(epoch_s, 3),
        "fit_overhead_s": round(timed.median_overhead_s(), 3),
        "model_images_per_sec": round(model_images_per_sec, 2),
        "loader_images_per_sec": loader_images_per_sec,
        "utilisation": round(share, 3),
        "verdict": bottleneck(loader_images_per_sec, model_images_per_sec, share),
        "speedup_vs_idg": round(idg_epoch_s / epoch_s, 2) if idg_epoch_s else None,
    }
