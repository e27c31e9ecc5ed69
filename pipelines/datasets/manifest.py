"""The manifest a generated dataset carries: how it was made, and whether the making finished.

It is written twice: ``complete: false`` before the first image, ``complete: true`` after the last. A folder
whose manifest still says ``false`` was interrupted, and is completed rather than used as it is.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

MANIFEST_NAME = "manifest.json"


@dataclass(frozen=True)
class Manifest:
    """What ``manifest.json`` holds.

    Attributes:
        recipe: every parameter the images depend on (generator version, preset shape, seed). Equal recipes
            mean byte-equal datasets.
        complete: the last image was written.
        images: image files written (counted on disk).
        bytes: their total size in bytes.
        jpeg_quality: the calibrated JPEG quality.
        class_names: the class folders, in label order.
    """

    recipe: dict[str, Any]
    complete: bool
    images: int = 0
    bytes: int = 0
    jpeg_quality: int = 0
    class_names: tuple[str, ...] = ()

    def write(self, folder: Path) -> None:
        """Write atomically, so a crash leaves either the old manifest or the new one."""
        write_json_atomically(folder / MANIFEST_NAME, asdict(self))


def temporary_name(path: Path) -> Path:
    """Where :func:`write_json_atomically` writes ``path`` before renaming it: hidden, in the same folder."""
    return path.with_name(f".{path.name}.tmp")


def write_json_atomically(path: Path, data: Any) -> None:
    """``data`` as JSON at ``path``, written to :func:`temporary_name` and renamed, so a crash leaves either the
    old file or the new one, never half of one."""
    temporary = temporary_name(path)
    temporary.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
    os.replace(temporary, path)


def read_manifest(folder: Path) -> Manifest | None:
    """The manifest in ``folder``; ``None`` if there is none or it cannot be read as one."""
    try:
        data = json.loads((folder / MANIFEST_NAME).read_text())
        return Manifest(
            recipe=dict(data["recipe"]),
            complete=bool(data["complete"]),
            images=int(data.get("images", 0)),
            bytes=int(data.get("bytes", 0)),
            jpeg_quality=int(data.get("jpeg_quality", 0)),
            class_names=tuple(data.get("class_names", ())),
        )
    except (OSError, ValueError, KeyError, TypeError):
        return None
