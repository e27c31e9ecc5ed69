"""What a value may be: each parser turns an option's text into its value or raises ``ValueError`` saying what
is accepted, with the text it got (``a whole number of at least 1, got '-5'``). :mod:`pipelines.options` hands
them to argparse, which names the option in front of the message."""

from __future__ import annotations

import os
import re
from pathlib import Path

from pipelines.units import parse_bytes, parse_rate

#: The smallest size typed without a unit that is taken as meant: below it (``--ram-budget 16``) a unit was
#: almost certainly left out.
SMALLEST_BARE_SIZE = 10**6


def count(text: str) -> int:
    """A whole number of at least 1 (images, rounds, workers)."""
    return _whole(text, 1, "a whole number of at least 1")


def natural(text: str) -> int:
    """A whole number of at least 0 (a seed)."""
    return _whole(text, 0, "a whole number of at least 0")


def _whole(text: str, least: int, accepted: str) -> int:
    try:
        value = int(str(text).strip())
    except ValueError:
        value = least - 1
    if value < least:
        raise ValueError(f"{accepted}, got {text!r}")
    return value


def positive(text: str) -> float:
    """A number above 0 (a rate, a width multiplier)."""
    value = _number(text)
    if not value > 0:
        raise ValueError(f"a number above 0, got {text!r}")
    return value


def non_negative(text: str) -> float:
    """A number of at least 0 (seconds, cores)."""
    value = _number(text)
    if not value >= 0:
        raise ValueError(f"a number of at least 0, got {text!r}")
    return value


def fraction(text: str) -> float:
    """A share in [0, 1) (``0.10`` = 10%)."""
    value = _number(text)
    if not 0 <= value < 1:
        raise ValueError(f"a share from 0 up to (not including) 1, e.g. 0.10 for 10%, got {text!r}")
    return value


def _number(text: str) -> float:
    try:
        value = float(str(text).strip())
    except ValueError:
        raise ValueError(f"a number, got {text!r}") from None
    if value != value or value in (float("inf"), float("-inf")):
        raise ValueError(f"a finite number, got {text!r}")
    return value


def size(text: str) -> int:
    """Bytes typed with a unit (``16GB``, ``512MiB``); a bare number below :data:`SMALLEST_BARE_SIZE` is refused
    as a unit left out (``16`` would be 16 bytes)."""
    value = parse_bytes(text)
    if value <= 0:
        raise ValueError(f"a size above 0, e.g. 16GB, got {text!r}")
    if re.fullmatch(r"\s*[0-9.]+\s*", str(text)) and value < SMALLEST_BARE_SIZE:
        raise ValueError(f"a size with its unit, e.g. {text.strip()}GB: {text.strip()!r} would be "
                         f"{value} bytes")
    return value


def rate(text: str) -> int:
    """Bytes a second (``150MB/s``)."""
    value = parse_rate(text)
    if value <= 0:
        raise ValueError(f"a rate above 0, e.g. 150MB/s, got {text!r}")
    return value


def counts(text: str) -> tuple[int, ...]:
    """Comma-separated whole numbers of at least 1 (``250,500,1000``)."""
    items = [item.strip() for item in str(text).split(",") if item.strip()]
    if not items:
        raise ValueError(f"comma-separated whole numbers, e.g. 250,500,1000, got {text!r}")
    try:
        return tuple(count(item) for item in items)
    except ValueError:
        raise ValueError(f"comma-separated whole numbers of at least 1, e.g. 250,500,1000, got {text!r}") from None


def names(text: str) -> tuple[str, ...]:
    """Comma-separated names (``tfdata-none-uint8,tfdata-file-uint8``); which names exist is the settings'
    check."""
    items = tuple(item.strip() for item in str(text).split(",") if item.strip())
    if not items:
        raise ValueError(f"comma-separated names, got {text!r}")
    return items


def _path(text: str) -> Path:
    if not str(text).strip():
        raise ValueError("an empty path: give a folder or file")
    return Path(str(text)).expanduser()


def existing_folder(text: str) -> Path:
    """A folder that exists (a dataset to read)."""
    path = _path(text)
    if not path.exists():
        raise ValueError(f"no such folder: {path}")
    if not path.is_dir():
        raise ValueError(f"{path} is a file, not a folder")
    return path


def existing_file(text: str) -> Path:
    """A file that exists (a run's JSON, weights)."""
    path = _path(text)
    if not path.exists():
        raise ValueError(f"no such file: {path}")
    if not path.is_file():
        raise ValueError(f"{path} is not a file")
    return path


def writable_folder(text: str) -> Path:
    """A folder to write into: one that exists, or one that can be made under the nearest folder that does."""
    path = _path(text)
    if path.exists() and not path.is_dir():
        raise ValueError(f"{path} is a file, not a folder")
    nearest = next(parent for parent in (path, *path.absolute().parents) if parent.exists())
    if not nearest.is_dir() or not _can_make_in(nearest):
        raise ValueError(f"cannot write under {nearest}: choose a folder you can write to")
    return path


def _can_make_in(folder: Path) -> bool:
    """Whether a folder can be made in ``folder``, without making one (a user's folder is never touched, not
    even by a probe): permission, a read-only mount, and the kernel's own file systems, where ``os.access``
    says yes to root but making a folder fails."""
    if not os.access(folder, os.W_OK | os.X_OK):
        return False
    if os.statvfs(folder).f_flag & os.ST_RDONLY:
        return False
    resolved = folder.resolve()
    return not any(resolved == Path(kernel) or Path(kernel) in resolved.parents for kernel in ("/proc", "/sys"))


_BIT_UNITS = {"bit": 1, "kbit": 10**3, "mbit": 10**6, "gbit": 10**9, "tbit": 10**12}


def bit_rate(text: str) -> int:
    """A link's rate in bits a second, as ``tc`` writes it (``1gbit``, ``100mbit``; ``/s`` may follow)."""
    match = re.fullmatch(r"\s*([0-9]*\.?[0-9]+)\s*([a-zA-Z]+)(/s)?\s*", str(text))
    unit = match.group(2).lower() if match else None
    if not match or unit not in _BIT_UNITS or float(match.group(1)) <= 0:
        raise ValueError(f"a link rate in bits a second, e.g. 1gbit or 100mbit, got {text!r}")
    return int(float(match.group(1)) * _BIT_UNITS[unit])


_TIME_UNITS = {"us": 1e-6, "ms": 1e-3, "s": 1.0}


def delay(text: str) -> float:
    """A short time with its unit (``2ms``, ``500us``, ``0.1s``), in seconds."""
    match = re.fullmatch(r"\s*([0-9]*\.?[0-9]+)\s*(us|ms|s)\s*", str(text))
    if not match or float(match.group(1)) <= 0:
        raise ValueError(f"a time above 0 with its unit, e.g. 2ms or 500us, got {text!r}")
    return float(match.group(1)) * _TIME_UNITS[match.group(2)]
