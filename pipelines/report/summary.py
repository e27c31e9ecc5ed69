"""The end-of-run summary: one line per loader x cache mode x placement, throughput and training side by side.

Input is the list of ``extra_info`` dicts the cases recorded (the same dicts pytest-benchmark saves to JSON),
so the summary printed after a run and a report made later from the JSON agree. Every rate is printed with
its spread (``2341 ±4%``), and the verdict is the one the case recorded: summary and JSON cannot disagree.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from typing import Any

from pipelines.harness.cases import record_case
from pipelines.harness.complete import incomplete_line, is_complete
from pipelines.caches.pagecache import RESIDENT_AT
from pipelines.loaders.registry import LOADER_SPECS
from pipelines.units import format_bytes, format_duration

REFERENCE_LOADERS = ("decode-limit", "machine-limit", "model-only")

COLUMNS = (
    ("case", "case"),
    ("warm img/s", "warm_ips"),
    ("cold img/s", "cold_ips"),
    ("% limit", "limit_pct"),
    ("1st batch s", "first_batch_s"),
    ("cache", "cache_bytes"),
    ("train cold s", "train_cold_s"),
    ("train warm s", "train_warm_s"),
    ("vs idg", "speedup"),
    ("util", "utilisation"),
    ("verdict", "verdict"),
)


def summary_rows(results: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Merge throughput and training results into one row per case id (``tfdata-file-uint8``).

    A cell holding a measured figure is a ``(value, spread)`` pair; the training columns (speed-up,
    utilisation, verdict) are those of the warm epochs. An incomplete case (an epoch lost images:
    :mod:`pipelines.harness.complete`) has no row.
    """
    rows: dict[str, dict[str, Any]] = defaultdict(dict)
    for r in results:
        if r.get("loader") in REFERENCE_LOADERS or "loader" not in r or not is_complete(r):
            continue
        row = rows[record_case(r)]
        epoch = r["epoch"]
        if "epoch_s" in r:  # a training case
            row[f"train_{epoch}_s"] = (r["epoch_s"], r.get("epoch_spread"))
            if epoch == "warm":
                if r.get("speedup_vs_idg"):
                    row["speedup"] = (r["speedup_vs_idg"], r.get("speedup_spread"))
                row["utilisation"] = (r.get("utilisation"), r.get("noise_band"))
                row["verdict"] = r.get("verdict")
        else:
            row[f"{epoch}_ips"] = (r["images_per_sec"], r.get("spread"))
            if epoch == "warm":
                if r.get("machine_limit_pct") is not None:
                    row["limit_pct"] = r["machine_limit_pct"]
                row["first_batch_s"] = r.get("first_batch_s")
            if r.get("cache_bytes"):
                row["cache_bytes"] = r["cache_bytes"]
    return [{"case": case, **row} for case, row in sorted(rows.items())]


def format_summary(results: list[Mapping[str, Any]], wall_s: float | None = None) -> str:
    """A plain-text table a person can scan, with the reference figures above it and caveats below; with the
    run's ``wall_s``, a last line saying how much of it was timed. A case left out as incomplete (an epoch lost
    images) has no row, and a line saying so."""
    left_out = [incomplete_line(r) for r in results if not is_complete(r)]
    results = [r for r in results if is_complete(r)]
    rows = summary_rows(results)
    if not rows:
        return "\n".join(["no loader results recorded", *left_out])
    footer = [] if wall_s is None else [run_time_line(wall_s, results)]
    table = [[title for title, _ in COLUMNS]] + [[cell(key, row.get(key)) for _, key in COLUMNS] for row in rows]
    widths = [max(len(line[i]) for line in table) for i in range(len(COLUMNS))]
    lines = ["  ".join(c.rjust(w) if i else c.ljust(w) for i, (c, w) in enumerate(zip(line, widths, strict=True)))
             for line in table]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(header_lines(results) + [""] + lines + notes(results) + ([""] + left_out if left_out else [])
                     + footer)


def timed_seconds(results: Sequence[Mapping[str, Any]]) -> float:
    """Seconds the benchmark clock ran over every record: each round's seconds per epoch x its epochs."""
    return sum(sum(r.get("round_seconds") or ()) * (r.get("epochs_per_round") or 1) for r in results)


def run_time_line(wall_s: float, results: Sequence[Mapping[str, Any]]) -> str:
    """What the run cost and how much of it the numbers above are: the rest is set-up, calibration, warm-up
    epochs, eviction and tear-down, which a reader should not take for the loaders' time."""
    timed = timed_seconds(results)
    share = f" ({timed / wall_s:.0%})" if wall_s > 0 else ""
    return (f"run: {format_duration(wall_s)} from the start of pytest's process to the last case, {format_duration(timed)} of it"
            f"{share} timed epochs; the rest: dataset check, model build, calibration, warm-up, eviction, tear-down")


def header_lines(results: Sequence[Mapping[str, Any]]) -> list[str]:
    """The dataset, the machine and the reference figures every row is read against."""
    header = []
    first = results[0]
    if "dataset" in first:
        header.append(f"dataset {first['dataset']}: {first.get('dataset_images', '?')} images, "
                      f"{format_bytes(first.get('dataset_bytes', 0))}; device {first.get('device', '?')}, "
                      f"{first.get('cpu_count', '?')} cores, TensorFlow {first.get('tensorflow', '?')}")
    for r in results:
        rate = _with_spread(r.get("images_per_sec"), r.get("spread"))
        if r.get("loader") == "decode-limit":
            header.append(f"decode limit (tf.data read+decode+resize, all cores): {rate} img/s")
        elif r.get("loader") == "machine-limit":
            one = _with_spread(r.get("one_thread_images_per_sec"), r.get("spread"))
            header.append(f"machine limit (one thread {one} img/s x {r.get('cores')} cores): {rate} img/s"
                          " -- '% limit' is against this")
        elif r.get("loader") == "model-only":
            model = f"{r['model']}, " if r.get("model") else ""  # records before --accelerator had no name
            rate = _with_spread(r.get("images_per_sec"), r.get("spread"), 1)
            header.append(f"model alone ({model}in-memory tensors): {rate} img/s, {r.get('epoch_s')} s an epoch; "
                          "'util' is against a model-only epoch run within a minute of each case")
    header.append("rates: median of rounds ± half their range; verdicts claim only what that spread allows")
    return header


def notes(results: Sequence[Mapping[str, Any]]) -> list[str]:
    """Caveats a reader must see: reads that came from RAM, file caches on RAM-backed file systems, the fast
    decode's price in pixels, and a loader's own augmentation (its pixels not compared)."""
    out = []
    read_back = [r for r in results  # file caches: only they record what stayed resident after eviction
                 if r.get("epoch") == "warm" and r.get("cache_resident") is not None and "epoch_s" not in r]
    if read_back:
        worst = max(read_back, key=lambda r: r["cache_resident"])
        filesystems = sorted({str(r.get("cache_filesystem")) for r in read_back})
        out.append(f"file caches ({', '.join(filesystems)}): flushed and evicted before every warm epoch; at most "
                   f"{100 * worst['cache_resident']:.0f}% of a cache stayed in the page cache "
                   f"({record_case(worst)}-warm)")
    idg = {r["loader"]: r["images_per_sec"] for r in results
           if r.get("baseline") and r.get("epoch") == "warm" and "epoch_s" not in r}
    if len(idg) > 1:
        out.append("ImageDataGenerator workers (warm img/s): " + ", ".join(f"{k} {v:.0f}" for k, v in sorted(idg.items()))
                   + "; training's 'vs idg' is against the faster variant's epochs")
    out += slower_variants(results)
    for r in results:
        if r.get("loader") in REFERENCE_LOADERS or "epoch_s" in r:
            continue
        case = f"{record_case(r)}-{r['epoch']}"
        if r.get("page_cache") == "not-evicted":
            out.append(f"{case}: its JPEGs could not be evicted ({100 * (r.get('page_cache_resident') or 0):.0f}% "
                       "resident): this cold epoch read from RAM")
        if r.get("cache_on_ram"):
            out.append(f"{case}: the file cache is on {r.get('cache_filesystem')}, a RAM-backed file system: "
                       "its warm epochs read RAM, not disk (choose --cache-dir on a disk)")
        elif r.get("epoch") == "warm" and (r.get("cache_resident") or 0) >= RESIDENT_AT:
            out.append(f"{case}: {100 * r['cache_resident']:.0f}% of its file cache stayed in the page cache "
                       "after eviction: warm epochs partly read RAM")
        if r.get("augmented") and r.get("epoch") == "warm":
            out.append(f"{case}: its own augmentation: labels, shapes and counts checked, pixels not compared with "
                       "the exact decode")
        if r.get("pixel_diff_mean") is not None and r.get("epoch") == "warm":
            out.append(f"{case}: pixels differ from the exact decode by {r['pixel_diff_mean']:.2f}/255 on average "
                       f"(largest {r.get('pixel_diff_max'):.0f}/255, {r.get('pixel_diff_images')} images)")
    return [""] + out if out else []


def slower_variants(results: Sequence[Mapping[str, Any]]) -> list[str]:
    """A variant (another way to build a loader: ``tfdata-fast``) whose warm throughput is below its loader's by
    more than both spreads: it does not pay off on this data and machine, said so. ImageDataGenerator's
    variants have a line of their own above (the faster is the baseline either way)."""
    warm = {(r["loader"], r["cache"], r["placement"]): r for r in results
            if r.get("epoch") == "warm" and "epoch_s" not in r and r.get("images_per_sec") and "cache" in r}
    out = []
    for (loader, cache, placement), r in sorted(warm.items()):
        spec = LOADER_SPECS.get(loader)
        base = warm.get((spec.variant_of, cache, placement)) if spec and spec.variant_of else None
        if base is None or base.get("baseline"):
            continue
        high = r["images_per_sec"] * (1 + (r.get("spread") or 0))
        low = base["images_per_sec"] * (1 - (base.get("spread") or 0))
        if high < low:
            out.append(f"{record_case(r)}-warm: {_with_spread(r['images_per_sec'], r.get('spread'))} img/s against "
                       f"{spec.variant_of}'s {_with_spread(base['images_per_sec'], base.get('spread'))}: slower "
                       f"than the loader it varies, on this data ({base['images_per_sec'] / r['images_per_sec']:.2f}x)"
                       f" -- {spec.variant_of} is the better choice here")
    return out


def cell(key: str, value: Any) -> str:
    """One table cell as text; ``(value, spread)`` pairs print as ``value ±spread%``."""
    if value is None:
        return "-"
    if isinstance(value, tuple):
        number, spread = value
        if number is None:
            return "-"
        if key == "utilisation":
            return f"{100 * number:.0f}" + (f"±{100 * number * spread:.0f}%" if spread else "%")
        text = {"speedup": f"{number:.2f}x", "train_cold_s": f"{number:.2f}", "train_warm_s": f"{number:.2f}"}
        return text.get(key, f"{number:.0f}") + _spread(spread)
    if key == "cache_bytes":
        return format_bytes(value)
    if key == "limit_pct":
        return f"{value:.0f}%"
    if isinstance(value, float):
        return f"{value:.2f}"
    return str(value)


def _spread(spread: float | None) -> str:
    return f" ±{100 * spread:.0f}%" if spread is not None else ""


def _with_spread(value: float | None, spread: float | None, digits: int = 0) -> str:
    return "?" if value is None else f"{value:.{digits}f}{_spread(spread)}"
