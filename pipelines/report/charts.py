"""PNG charts with matplotlib: throughput per case, and epoch time per case (first and later epochs)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # files only: no display on servers and CI
import matplotlib.pyplot as plt  # noqa: E402

from pipelines.report.summary import summary_rows  # noqa: E402


def bar_chart(rows: list[dict[str, Any]], keys: tuple[str, str], labels: tuple[str, str], ylabel: str, title: str,
          path: Path, reference: tuple[str, float] | None = None) -> Path | None:
    """Two bars per row (``keys``: ``(value, spread)`` cells, spread drawn as error bars, or ``(value, low, high)``
    cells, an interval drawn as one), labelled by ``case``;
    a row's ``marks`` (``{key: text}``) is written, upright, where that key's bar is missing ("does not fit"),
    so that an absent bar never reads as zero."""
    rows = [r for r in rows if r.get(keys[0]) is not None or r.get(keys[1]) is not None or r.get("marks")]
    if not rows:
        return None
    fig, ax = plt.subplots(figsize=(max(6, 0.9 * len(rows) + 2), 4.5))
    positions = range(len(rows))
    width = 0.4
    for offset, key, label in ((-width / 2, keys[0], labels[0]), (width / 2, keys[1], labels[1])):
        values = [_measured(r.get(key)) for r in rows]
        ax.bar([p + offset for p in positions], [v for v, _, _ in values], width, label=label,
               yerr=[[v - low for v, low, _ in values], [high - v for v, _, high in values]], capsize=3)
        for position, row in zip(positions, rows):
            mark = (row.get("marks") or {}).get(key)
            if mark and not _measured(row.get(key))[0]:
                ax.annotate(mark, (position + offset, 0), xytext=(0, 4), textcoords="offset points",
                            rotation=90, ha="center", va="bottom", fontsize=7)
    if reference:
        ax.axhline(reference[1], color="black", linestyle="--", linewidth=1, label=reference[0])
    ax.set_xticks(list(positions), [r["case"] for r in rows], rotation=35, ha="right")
    ax.set(ylabel=ylabel, title=title)
    ax.set_ylim(top=ax.get_ylim()[1] * 1.25)  # headroom: the legend must not cover the bars
    ax.legend(loc="upper left", ncol=3)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def _measured(value: Any) -> tuple[float, float, float]:
    """A cell (a ``(value, spread)`` pair, a ``(value, low, high)`` triple, or nothing) as a bar and the two ends
    of its error bar: a spread that is not known is NaN, which draws no error bar (one of zero width would read
    as no error at all)."""
    if isinstance(value, tuple) and len(value) == 3 and value[0] is not None:
        return float(value[0]), float(value[1]), float(value[2])
    if isinstance(value, tuple) and value[0] is not None:
        middle = float(value[0])
        spread = math.nan if value[1] is None else float(value[1])
        return middle, middle * (1 - spread), middle * (1 + spread)
    return 0.0, math.nan, math.nan


def write_charts(results: list[Mapping[str, Any]], out: Path) -> list[Path]:
    rows = summary_rows(results)
    dataset = next((r.get("dataset") for r in results if r.get("dataset")), "dataset")
    limit = next((r["images_per_sec"] for r in results if r.get("loader") == "machine-limit"), None)
    written = [
        bar_chart(rows, ("cold_ips", "warm_ips"), ("first epoch (cold)", "later epochs (warm)"), "images / s",
              f"Input throughput on {dataset}", out / "throughput.png",
              ("machine limit", limit) if limit else None),
        bar_chart(rows, ("train_cold_s", "train_warm_s"), ("epoch 1", "later epochs"), "seconds per epoch",
              f"MobileNet epoch time on {dataset}", out / "epochs.png"),
    ]
    return [p for p in written if p]
