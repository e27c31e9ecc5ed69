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
        temporary = folder / f".{MANIFEST_NAME}.tmp"
        temporary.write_text(json.dumps(asdict(self), indent=2, sort_keys=True) + "\n")
        os.replace(temporary, folder / MANIFEST_NAME)


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
