"""The manifest a generated dataset carries: how it was made, and whether the making finished.

It is written twice: ``complete: false`` before the first image, ``complete: true`` after the last. A folder
whose manifest still says ``false`` was interrupted, and is completed rather than used as it is.

``manifest.json`` is also one of the most common file names there is (web apps, packages, other datasets), so
the name proves nothing: a manifest is the suite's only when it says so (``"tool": "loaderbench"`` and the
:data:`MANIFEST_FORMAT` it was written in). Any other file of that name is someone else's: the folder is read as
a plain class-per-folder tree, and never written into or removed (:mod:`pipelines.cleanup.ownership`).
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from pipelines.cleanup.ownership import TOOL, Claim

MANIFEST_NAME = "manifest.json"
#: Beside the manifest while a generation runs: ``loaderbench writer`` and the generating process's pid
#: (:func:`pipelines.datasets.generation_lock.generation_lock`), for a second generation to say whom it waits for.
WRITER_NAME = ".loaderbench-writer"
WRITER_KIND = "writer"
#: Bumped when the manifest's fields change meaning. Written as ``format``, beside ``"tool": "loaderbench"``.
MANIFEST_FORMAT = 1
#: The fields of a manifest written before it named its tool: recognised by their exact set, recipe included.
_UNNAMED_FIELDS = {"recipe", "complete", "images", "bytes", "jpeg_quality", "class_names"}


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
        write_json_atomically(folder / MANIFEST_NAME, {"tool": TOOL, "format": MANIFEST_FORMAT, **asdict(self)})


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
    """The suite's manifest in ``folder``; ``None`` if there is none, or the file of that name is not one the
    suite wrote (see the module docstring)."""
    try:
        data = json.loads((folder / MANIFEST_NAME).read_text())
        if not _names_this_tool(data):
            return None
        return Manifest(
            recipe=dict(data["recipe"]),
            complete=bool(data["complete"]),
            images=int(data.get("images", 0)),
            bytes=int(data.get("bytes", 0)),
            jpeg_quality=int(data.get("jpeg_quality", 0)),
            class_names=tuple(data.get("class_names", ())),
        )
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None


def _names_this_tool(data: Any) -> bool:
    """``"tool": "loaderbench"`` in the format this code reads, or the exact fields of a manifest written before
    the suite named itself in it (with the generator's version in its recipe)."""
    if not isinstance(data, dict):
        return False
    if "tool" in data:
        return data["tool"] == TOOL and data.get("format") == MANIFEST_FORMAT
    return set(data) == _UNNAMED_FIELDS and isinstance(data["recipe"], dict) and "generator_version" in data["recipe"]


def dataset_claim(folder: Path) -> Claim:
    """What the suite made in a generated dataset ``folder``: the manifest proves it; the class folders it names,
    the images in them under the generator's names (and their temporary names), the manifest's temporary file
    and the writer mark (:data:`WRITER_NAME`) are the suite's. Anything else in the folder makes a removal
    refuse."""
    manifest = read_manifest(folder)
    classes = frozenset(manifest.class_names if manifest else ())

    def owns(relative: Path) -> bool:
        parts = relative.parts
        if len(parts) == 1:
            return parts[0] in classes or parts[0] in (temporary_name(Path(MANIFEST_NAME)).name, WRITER_NAME)
        return (len(parts) == 2 and parts[0] in classes
                and re.fullmatch(rf"\.?{re.escape(parts[0])}\.\d{{6}}\.(jpg|png)(\.tmp)?", parts[1]) is not None)

    return Claim("a generated dataset", MANIFEST_NAME, lambda path: read_manifest(path.parent) is not None, owns)
