"""Which shards already in a folder a conversion keeps, and why it writes the others again.

A shard with its final name was whole when it was renamed; it is kept when its record count is the plan's and,
where the folder's manifest is of the same plan, its size and sha256 are the ones recorded. Every shard written
again where a conversion was already is named with its reason (missing, size or record count differs, checksum
differs, another plan), so that a repair says what it repaired; a first conversion says nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pipelines.datasets.shards.digests import hash_and_count, remember_sha256
from pipelines.datasets.shards.format import MANIFEST_NAME, TFRecordSet, read_manifest
from pipelines.datasets.validate import DatasetError

#: Why a planned shard absent from its folder is written (the manifest may say more: :func:`missing_reason`).
MISSING = "missing"


@dataclass(frozen=True)
class Shard:
    """One shard of a conversion's plan: image ``i`` of the index is in shard ``i % shards``."""

    number: int
    path: Path
    members: tuple[int, ...]  # positions in the index


def rewritten_line(made: TFRecordSet, shown: int = 10) -> str:
    """One line: the shards ``made`` wrote again in its folder, grouped by why (``shown`` names each, then a
    count)."""
    by_reason: dict[str, list[str]] = {}
    for name, why in made.rewritten:
        by_reason.setdefault(why, []).append(name)
    groups = [f"{why}: {', '.join(names[:shown])}" + (f" and {len(names) - shown:,} more" if len(names) > shown
                                                     else "") for why, names in by_reason.items()]
    return (f"{len(made.rewritten)} of {len(made.shards)} TFRecord shards written again in {made.folder} -- "
            + "; ".join(groups))


def known_shards(folder: Path, digest: str) -> dict[str, dict[str, Any]]:
    """The shards ``folder``'s manifest records by name, where it is of this source digest (else none): a shard
    failing the checksum recorded there is written again."""
    try:
        manifest = read_manifest(folder)
    except DatasetError:
        return {}
    return {entry["name"]: entry for entry in manifest["shards"]} if manifest["digest"] == digest else {}


def missing_reason(folder: Path, digest: str, planned: set[str]) -> str | None:
    """What a planned shard absent from ``folder`` means, from the manifest there: ``None`` with no manifest (a
    first conversion, or an interrupted one), ``missing`` where it lists the same shards, else why the plan
    changed."""
    if not (folder / MANIFEST_NAME).exists():
        return None
    try:
        manifest = read_manifest(folder)
    except DatasetError:
        return "missing (the manifest was damaged or of an older format)"
    if manifest["digest"] != digest:
        return "other plan (the dataset changed since the last conversion)"
    if {entry["name"] for entry in manifest["shards"]} != planned:
        return f"other plan (the last conversion wrote {len(manifest['shards'])} shards)"
    return MISSING


def rewritten(todo: list[Shard], why: dict[str, str], missing_why: str | None,
              planned: int) -> tuple[tuple[str, str], ...]:
    """``(name, why)`` of the shards written again; nothing for a first conversion (no manifest, no shard)."""
    if missing_why is None and len(todo) == planned and all(why[s.path.name] == MISSING for s in todo):
        return ()
    missing = missing_why or "missing (the last conversion was interrupted)"
    return tuple((s.path.name, missing if why[s.path.name] == MISSING else why[s.path.name]) for s in todo)


def kept_or_why(shard: Shard, known: dict[str, Any] | None) -> tuple[tuple[int, str] | None, str]:
    """``((bytes, sha256), "")`` of a complete shard already there (its final name says it was whole when
    renamed), or ``(None, why)`` if it must be written: missing, short of records, or not what an older manifest
    recorded."""
    try:
        stat = shard.path.stat()
    except FileNotFoundError:
        return None, MISSING
    if known is not None and known["bytes"] != stat.st_size:
        return None, f"size differs ({stat.st_size:,} bytes, the manifest recorded {known['bytes']:,})"
    sha, records = hash_and_count(shard.path, stat)
    if records is None:
        return None, "ends inside a record (truncated or damaged)"
    if records != len(shard.members):
        return None, f"holds {records:,} records, not {len(shard.members):,}"
    if known is not None and known["sha256"] != sha:
        return None, f"checksum differs (its sha256 is not the one {MANIFEST_NAME} recorded)"
    remember_sha256(shard.path, stat, sha)
    return (stat.st_size, sha), ""
