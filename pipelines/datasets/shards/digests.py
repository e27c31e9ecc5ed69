"""sha256 and record count of a TFRecord shard in one read, and the sha256s this process has read already.

Opening a shard set checks every shard's sha256 against its manifest before a loader reads a byte, so that a
damaged shard is reported by name; cold epochs build a fresh pipeline (and open the set again) every epoch, and
18 GB of shards are not re-read for each. A file's sha256 is kept by path, inode, size and mtime_ns: a shard
written again, or replaced, is read again.
"""

from __future__ import annotations

import hashlib
import os
import struct
from pathlib import Path

from pipelines.datasets.validate import DatasetError

_READ_CHUNK = 1 << 20

#: sha256 of files already read by this process, by (path, inode, size, mtime_ns).
_SHA256_MEMO: dict[tuple[str, int, int, int], str] = {}


def _memo_key(path: Path, stat: os.stat_result) -> tuple[str, int, int, int]:
    return str(path), stat.st_ino, stat.st_size, stat.st_mtime_ns


def known_sha256(path: Path, stat: os.stat_result) -> str:
    """The sha256 of ``path`` as ``stat`` describes it: read once per process and file version."""
    key = _memo_key(path, stat)
    if key not in _SHA256_MEMO:
        _SHA256_MEMO[key] = hash_and_count(path, stat)[0]
    return _SHA256_MEMO[key]


def remember_sha256(path: Path, stat: os.stat_result, sha: str) -> None:
    """Keep the sha256 of a file just read or written, so that opening its set need not read it again."""
    _SHA256_MEMO[_memo_key(path, stat)] = sha


def hash_and_count(path: Path, stat: os.stat_result | None = None) -> tuple[str, int | None]:
    """sha256 and record count of a TFRecord file, in one read: walk the framing (8-byte length, 4-byte CRC of
    it, the data, 4-byte CRC of that), hashing every byte read. The count is ``None`` when the file ends inside
    a record (truncated, or a damaged length); a file whose size is not ``stat``'s is a :class:`DatasetError`."""
    digest = hashlib.sha256()
    records: int | None = 0
    size = 0
    with open(path, "rb", buffering=_READ_CHUNK) as handle:
        while header := handle.read(12):
            digest.update(header)
            size += len(header)
            remaining = struct.unpack("<Q", header[:8])[0] + 4 if len(header) == 12 else 0
            while remaining and (chunk := handle.read(min(remaining, _READ_CHUNK))):
                digest.update(chunk)
                size += len(chunk)
                remaining -= len(chunk)
            if len(header) < 12 or remaining:
                records = None
                rest = handle.read()  # the hash is of the whole file, framing or not
                digest.update(rest)
                size += len(rest)
                break
            records += 1
    if stat is not None and size != stat.st_size:
        raise DatasetError(f"TFRecord shard changed while it was read: {path} -- run again")
    return digest.hexdigest(), records
