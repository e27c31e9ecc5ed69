"""The end-of-run summary: one line per loader x cache mode x placement, throughput and training side by side.

Input is the list of ``extra_info`` dicts the cases recorded (the same dicts pytest-benchmark saves to JSON),
so the summary printed after a run and a report made later from the JSON agree.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from typing import Any

from pipelines.cases import record_case
from pipelines.units import format_bytes
from pipelines.verdict import loader_verdict

_REFERENCE_LOADERS = ("decode-limit", "model-only")

COLUMNS = (
    ("case", "case"),
    ("warm img/s", "warm_ips"),
    ("cold img/s", "cold_ips"),
    ("% decode", "decode_pct"),
    ("1st batch s", "first_batch_s"),
    ("cache", "cache_bytes"),
    ("train cold s", "train_cold_s"),
    ("train warm s", "train_warm_s"),
    ("vs idg", "speedup"),
    ("util", "utilisation"),
    ("verdict", "verdict"),
)


def summary_rows(results: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Merge throughput and training results into one row per case id (``tfdata-file-uint8``)."""
    rows: dict[str, dict[str, Any]] = defaultdict(dict)
    model_ips = next((r.get("model_images_per_sec") for r in results if r.get("loader") == "model-only"), None)
    for r in results:
        if r.get("loader") in _REFERENCE_LOADERS or "loader" not in r:
            continue
        row = rows[record_case(r)]
        training = "epoch_s" in r
        epoch = r["epoch"]
        if training:
            row[f"train_{epoch}_s"] = r["epoch_s"]
            if epoch == "warm":
                row["speedup"] = r.get("speedup_vs_idg")
                row["utilisation"] = r.get("utilisation")
                row["verdict"] = r.get("verdict")
        else:
            row[f"{epoch}_ips"] = r["images_per_sec"]
            if epoch == "warm":
                row["decode_pct"] = r.get("decode_limit_pct")
                row["first_batch_s"] = r.get("first_batch_s")
            if r.get("cache_bytes"):
                row["cache_bytes"] = r["cache_bytes"]
    for row in rows.values():  # no training run: judge from throughput against the model's speed
        if "verdict" not in row and model_ips and row.get("warm_ips"):
            row["verdict"] = loader_verdict(row["warm_ips"], model_ips)
    return [{"case": case, **row} for case, row in sorted(rows.items())]


def format_summary(results: list[Mapping[str, Any]]) -> str:
    """A plain-text table a person can scan, with the reference figures above it."""
    rows = summary_rows(results)
    if not rows:
        return "no loader results recorded"
    header = []
    first = results[0]
    if "dataset" in first:
        header.append(f"dataset {first['dataset']}: {first.get('dataset_images', '?')} images, "
                      f"{format_bytes(first.get('dataset_bytes', 0))}; device {first.get('device', '?')}, "
                      f"{first.get('cpu_count', '?')} cores, TensorFlow {first.get('tensorflow', '?')}")
    for r in results:
        if r.get("loader") == "decode-limit":
            header.append(f"decode limit (read+decode+resize, all cores): {r['images_per_sec']:.0f} img/s")
        if r.get("loader") == "model-only":
            header.append(f"model alone (in-memory tensors): {r['model_images_per_sec']:.1f} img/s")
    table = [[title for title, _ in COLUMNS]] + [[_cell(key, row.get(key)) for _, key in COLUMNS] for row in rows]
    widths = [max(len(line[i]) for line in table) for i in range(len(COLUMNS))]
    lines = ["  ".join(cell.rjust(w) if i else cell.ljust(w) for i, (cell, w) in enumerate(zip(line, widths, strict=True)))
             for line in table]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(header + [""] + lines)


def _cell(key: str, value: Any) -> str:
    if value is None:
        return "-"
    if key == "cache_bytes":
        return format_bytes(value)
    if key in ("warm_ips", "cold_ips"):
        return f"{value:.0f}"
    if key == "decode_pct":
        return f"{value:.0f}%"
    if key == "utilisation":
        return f"{100 * value:.0f}%"
    if key == "speedup":
        return f"{value:.2f}x"
    if isinstance(value, float):
        return f"{value:.2f}"
    return str(value)
