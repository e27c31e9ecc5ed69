"""Markdown tables: the per-case report, and the ratios between two runs."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pipelines.harness.cases import record_case
from pipelines.harness.complete import is_complete
from pipelines.report.summary import COLUMNS, cell, summary_rows
from pipelines.units import format_bytes

#: Byte columns the report adds to the summary's: what filling a cache peaked at, and a loader's worker processes.
BYTE_COLUMNS = (("peak RSS", "peak_rss_bytes"), ("workers' RSS", "workers_peak_rss_bytes"))
REPORT_COLUMNS = COLUMNS[:-1] + BYTE_COLUMNS + COLUMNS[-1:]


def report_rows(results: list[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The summary rows, with the peak RSS of the epoch that filled each cache and the peak of the loader's
    worker processes (summed), the highest over a case's epochs."""
    rows = summary_rows(results)
    peaks: dict[tuple[str, str], int] = {}
    for r in results:
        for _, key in BYTE_COLUMNS:
            if r.get(key):
                case = record_case(r)
                peaks[case, key] = max(peaks.get((case, key), 0), r[key])
    for row in rows:
        for _, key in BYTE_COLUMNS:
            row[key] = peaks.get((row["case"], key))
    return rows


def markdown_table(results: list[Mapping[str, Any]]) -> str:
    rows = report_rows(results)
    lines = ["| " + " | ".join(title for title, _ in REPORT_COLUMNS) + " |",
             "|" + "|".join("---" if key == "case" else "---:" for _, key in REPORT_COLUMNS) + "|"]
    for row in rows:
        lines.append("| " + " | ".join(_markdown_cell(key, row.get(key)) for _, key in REPORT_COLUMNS) + " |")
    return "\n".join(lines)


def _markdown_cell(key: str, value: Any) -> str:
    if key in dict(BYTE_COLUMNS).values():
        return format_bytes(value) if value else "-"
    return cell(key, value)


def comparison_table(old: list[Mapping[str, Any]], new: list[Mapping[str, Any]]) -> str:
    """Per benchmark present in both: images/s and seconds, old and new, and new/old ratios (an incomplete case,
    whose epoch lost images, has none: it is listed as in one run only)."""
    def by_name(records):
        return {r["name"]: r for r in records if is_complete(r)}

    before, after = by_name(old), by_name(new)
    lines = ["| case | old img/s | new img/s | img/s new/old | old median s | new median s | time new/old |",
             "|---|---:|---:|---:|---:|---:|---:|"]
    for name in sorted(set(before) & set(after)):
        a, b = before[name], after[name]
        old_ips, new_ips = a.get("images_per_sec"), b.get("images_per_sec")
        ratio_ips = f"{new_ips / old_ips:.2f}x" if old_ips and new_ips else "-"
        ratio_s = f"{b['median_s'] / a['median_s']:.2f}x" if a.get("median_s") and b.get("median_s") else "-"
        lines.append(f"| {name} | {_num(old_ips)} | {_num(new_ips)} | {ratio_ips} | {_num(a.get('median_s'), 3)} | "
                     f"{_num(b.get('median_s'), 3)} | {ratio_s} |")
    only = sorted(set(before) ^ set(after))
    if only:
        lines.append("")
        lines.append("In one run only: " + ", ".join(only))
    return "\n".join(lines)


def _num(value: float | None, digits: int = 0) -> str:
    return "-" if value is None else f"{value:.{digits}f}"
