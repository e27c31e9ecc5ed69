"""Folders a command is about to make, and their removal where a refusal left them empty: a command that refuses
leaves no folder behind, and never removes one that was there before it."""

from __future__ import annotations

from pathlib import Path


def folders_to_make(folder: Path) -> list[Path]:
    """``folder`` and each parent of it that does not exist yet, innermost first."""
    return [parent for parent in (folder, *folder.absolute().parents) if not parent.exists()]


def remove_empty(folders: list[Path]) -> None:
    """``folders`` (from :func:`folders_to_make`) removed where empty, innermost first; the first that is not
    empty, or cannot be removed, stops it."""
    for folder in folders:
        try:
            folder.rmdir()
        except OSError:
            return
