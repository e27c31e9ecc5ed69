"""Read pytest-benchmark's JSON back into the ``extra_info`` records the suite wrote, or say what is wrong."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pipelines.harness.complete import saved_incomplete


class ReportError(ValueError):
    """A results file cannot be reported on; the message names the file and the fault."""


def load_results(path: Path | str) -> list[dict[str, Any]]:
    """One record per benchmark: its ``extra_info`` plus ``name``, ``group`` and median/min seconds; then the
    cases the run saved apart as incomplete (``complete: False``, no seconds: :mod:`pipelines.harness.complete`),
    which the summary and tables leave out, saying why."""
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as error:
        raise ReportError(f"cannot read {path}: {error.strerror or error}") from None
    if not text.strip():
        raise ReportError(f"{path} is empty: expected pytest-benchmark JSON (--benchmark-json or --benchmark-save)")
    try:
        data = json.loads(text)
    except json.JSONDecodeError as error:
        raise ReportError(f"{path} is not valid JSON (line {error.lineno}: {error.msg})") from None
    if not isinstance(data, dict) or not isinstance(data.get("benchmarks"), list):
        raise ReportError(f"{path} is not pytest-benchmark JSON: no 'benchmarks' list")
    records = []
    for bench in [*data["benchmarks"], *saved_incomplete(data)]:
        info = bench.get("extra_info") or {}
        if "loader" not in info:
            continue  # not one of ours
        stats = bench.get("stats") or {}
        records.append({**info, "name": bench.get("name"), "group": bench.get("group"),
                        "median_s": stats.get("median"), "min_s": stats.get("min")})
    if not records:
        raise ReportError(f"{path} holds no loaderbench results (no benchmark with extra_info['loader'])")
    return records
