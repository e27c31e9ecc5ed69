"""Numbers a person can read, sizes a person can type (``16GB``), and the sizes a measurement stands for: the
probe measured nearest a size, and one probe for sizes close together."""

from __future__ import annotations

import math
import re
import statistics
from collections.abc import Callable, Iterable, Sequence
from typing import TypeVar

T = TypeVar("T")

_UNITS = {"": 1, "B": 1, "K": 1000, "KB": 1000, "M": 1000**2, "MB": 1000**2, "G": 1000**3, "GB": 1000**3,
          "T": 1000**4, "TB": 1000**4, "KIB": 1024, "MIB": 1024**2, "GIB": 1024**3, "TIB": 1024**4}


def format_bytes(value: float) -> str:
    """``1.5 MB``: decimal units, as disks and the study report sizes."""
    for unit in ("B", "KB", "MB", "GB"):
        if abs(value) < 1000:
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    return f"{value:.1f} TB"


def parse_bytes(text: str) -> int:
    """``16GB`` -> 16e9, ``512MiB`` -> 512 * 2**20, ``1000`` -> 1000; ValueError naming the text otherwise."""
    match = re.fullmatch(r"\s*([0-9]*\.?[0-9]+)\s*([A-Za-z]*)\s*", str(text))
    unit = match.group(2).upper() if match else None
    if not match or unit not in _UNITS:
        raise ValueError(f"not a size: {text!r} (examples: 16GB, 512MiB, 2000000)")
    return int(float(match.group(1)) * _UNITS[unit])


def parse_rate(text: str) -> int:
    """``150MB/s`` -> 150e6 bytes a second (``/s`` may be left out); ValueError naming the text otherwise."""
    size = str(text).strip()
    size = size[:-2] if size.lower().endswith("/s") else size
    try:
        return parse_bytes(size)
    except ValueError:
        raise ValueError(f"not a rate: {text!r} (examples: 150MB/s, 1GB/s)") from None


def parse_list(text: str, parse: Callable[[str], T], option: str, example: str) -> tuple[T, ...]:
    """``1,2,4`` -> ``(1, 2, 4)`` with ``parse`` applied to each item (blank items skipped); a ValueError naming
    ``option``, the text and an ``example`` where an item does not parse or none is given."""
    try:
        items = tuple(parse(item.strip()) for item in str(text).split(",") if item.strip())
    except ValueError as error:
        raise ValueError(f"{option} {text!r}: {error} (example: {example})") from None
    if not items:
        raise ValueError(f"{option} {text!r}: a comma-separated list is needed (example: {example})")
    return items


def format_duration(seconds: float) -> str:
    """``38 s``, ``4 min 05 s``, ``1 h 02 min``: a wall time a person reads at a glance."""
    seconds = round(seconds)
    if seconds < 60:
        return f"{seconds} s"
    minutes, rest = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes} min {rest:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


def relative_spread(values: Sequence[float]) -> float:
    """``(max - min) / 2 / median``: the ± a person reads next to a median; 0 for one value."""
    if not values:
        return float("nan")
    middle = statistics.median(values)
    return (max(values) - min(values)) / 2 / middle if middle > 0 else float("nan")


def nearest_in_size(items: Iterable[T], nbytes: float, size_of: Callable[[T], float]) -> T | None:
    """The one of ``items`` whose ``size_of`` is closest to ``nbytes`` by ratio, or ``None`` (no items, or no
    size to be near)."""
    items = list(items)
    if not items or nbytes <= 0:
        return None
    return min(items, key=lambda item: abs(math.log(size_of(item) / nbytes)))


def one_per_group(sizes: Iterable[float], within: float) -> list[int]:
    """``sizes`` in order, less each one within ``within`` (a share) above the last one kept: the sizes to measure
    once for a group of sizes close together."""
    chosen: list[int] = []
    for size in sorted(sizes):
        if not chosen or size > chosen[-1] * (1 + within):
            chosen.append(int(size))
    return chosen
