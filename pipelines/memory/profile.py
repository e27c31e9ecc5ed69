"""A memory-over-time profile of one case: memory-profiler's RSS timeline over a few epochs, as JSON and PNG."""

from __future__ import annotations

import json
from pathlib import Path

from pipelines.loaders.contract import Contract
from pipelines.datasets import DatasetIndex
from pipelines.loaders import open_pipeline
from pipelines.epoch.run import run_epoch
from pipelines.memory.measure import measure_memory
from pipelines.memory.predict import predict_cache


def profile_case(index: DatasetIndex, loader: str, contract: Contract, epochs: int, out: Path) -> dict:
    """Run ``epochs`` epochs of one case under memory-profiler; write ``<case>.json`` and ``<case>.png``."""
    out.mkdir(parents=True, exist_ok=True)
    name = f"{loader}-{contract.cache}-{contract.placement}"

    def run_all(pipeline) -> list[float]:
        return [run_epoch(pipeline).seconds for _ in range(epochs)]

    with open_pipeline(loader, index, contract) as pipeline:
        seconds, figures = measure_memory(run_all, pipeline, interval=0.02)
    predicted = predict_cache(index.images, contract).total_bytes if contract.cache_spec.caches else 0
    record = {
        "case": name, "dataset": index.name, "images": index.images, "epochs": epochs, "epoch_s": seconds,
        "peak_rss_bytes": figures.peak_rss_bytes, "rss_growth_bytes": figures.rss_growth_bytes,
        "predicted_cache_bytes": predicted, "timeline": figures.timeline,
    }
    (out / f"{name}.json").write_text(json.dumps(record, indent=1))
    _plot(record, out / f"{name}.png")
    return record


def _plot(record: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    times = [t for t, _ in record["timeline"]]
    rss = [b / 2**20 for _, b in record["timeline"]]
    fig, ax = plt.subplots(figsize=(8, 4))
    ax.plot(times, rss, label="RSS")
    if record["predicted_cache_bytes"]:
        base = rss[0] if rss else 0
        ax.axhline(base + record["predicted_cache_bytes"] / 2**20, linestyle="--", color="tab:red",
                   label="start + predicted cache")
    edges = 0.0
    for seconds in record["epoch_s"][:-1]:
        edges += seconds
        ax.axvline(edges, color="grey", linewidth=0.5)
    ax.set(xlabel="seconds", ylabel="MiB", title=f"{record['case']} on {record['dataset']} ({record['images']} images)")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
