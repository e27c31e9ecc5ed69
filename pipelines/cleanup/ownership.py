"""The one way the suite removes a file or folder it did not just create: only what its own marker proves it made.

A user points the suite at their folders (``--dataset``, ``--out``, ``--cache-dir``, ``--data-root``), and a
folder there may hold anything, including a file whose name the suite also uses (``manifest.json`` is one of the
most common names there is). So nothing is removed on the strength of a name alone. A :class:`Claim` says how the
suite recognises a folder it made -- a marker file whose *content* names this tool -- and which names inside such
a folder are its own; :func:`remove_made` checks both before it deletes a byte, and otherwise raises
:class:`RemovalRefused` naming the folder and the file that made it refuse, having deleted nothing.

Every removal the suite makes goes through here (docs/faults.md), except files and folders a
process created itself moments before (a temporary file it is about to rename, the cache files TensorFlow writes
into a folder this process made), which are removed where they are made.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

#: The word every marker the suite writes carries, so that a marker is told from a file of the same name.
TOOL = "loaderbench"


class RemovalRefused(Exception):
    """The suite would have removed something it cannot prove it made; nothing was removed."""


@dataclass(frozen=True)
class Claim:
    """How the suite recognises a folder it made, and its own files in it.

    Attributes:
        what: what such a folder is, for messages (``a generated dataset``).
        marker: the file, relative to the folder, whose content proves the suite made the folder.
        proves: reads the marker's path and says whether its content is the suite's (never just its name).
        owns: whether a path relative to the folder (a file, link or sub-folder) is one the suite writes there
            (the marker need not be).
    """

    what: str
    marker: str
    proves: Callable[[Path], bool]
    owns: Callable[[Path], bool]


def is_made(folder: Path, claim: Claim) -> bool:
    """Whether ``folder`` carries ``claim``'s marker with the suite's content."""
    marker = Path(folder) / claim.marker
    return marker.is_file() and not marker.is_symlink() and claim.proves(marker)


def remove_made(folder: Path | str, claim: Claim, files: Iterable[Path] | None = None,
                keep_folder: bool = False) -> list[Path]:
    """Remove what the suite made in ``folder``; the paths removed, files first.

    ``files=None``: the whole folder -- every entry in it must be the claim's (or the marker), else nothing is
    removed; the folder itself goes too unless ``keep_folder``. ``files`` given: only those, each inside the
    folder and the claim's. Symbolic links are never followed: a link inside the folder is refused unless the
    claim owns its name, and then the link is removed, not what it points to. ``folder`` may itself be a link
    (to a folder the suite made): its target's contents are what is checked and removed.
    """
    folder = Path(folder).expanduser()
    real = folder.resolve()
    if not real.exists():
        return []
    if not real.is_dir():
        raise RemovalRefused(f"refusing to remove {folder}: it is not a folder, so not {claim.what} the suite made")
    if not is_made(real, claim):
        raise RemovalRefused(
            f"refusing to remove anything in {folder}: it has no {claim.marker} written by {TOOL}, so it is not "
            f"{claim.what} this suite made -- nothing was deleted; choose another folder, or remove it yourself"
        )
    if files is None:
        targets, folders = _everything_in(real)
    else:
        targets, folders = [_inside(real, Path(path)) for path in files], []
    for path in (*targets, *folders):
        relative = path.relative_to(real)
        if relative != Path(claim.marker) and not claim.owns(relative):
            raise RemovalRefused(
                f"refusing to remove {folder}: {path} is not something {TOOL} writes in {claim.what} -- nothing "
                "was deleted; move it out of the folder (or remove the folder yourself)"
            )
    removed = []
    marker = real / claim.marker
    for path in sorted(targets, key=lambda p: p == marker):  # the marker last: a half-done removal is still ours
        if path.is_symlink() or path.exists():
            path.unlink()
            removed.append(path)
    for path in sorted(folders, key=lambda p: len(p.parts), reverse=True):
        path.rmdir()  # empty by now; one a file appeared in since is left, with an error
        removed.append(path)
    if files is None and not keep_folder:
        real.rmdir()
        removed.append(real)
        if folder.is_symlink():
            folder.unlink()
    return removed


def _everything_in(folder: Path) -> tuple[list[Path], list[Path]]:
    """Every file (and link) and every sub-folder under ``folder``, links not followed."""
    files, folders = [], []
    for parent, names, filenames in os.walk(folder, followlinks=False):
        base = Path(parent)
        for name in names:
            (files if (base / name).is_symlink() else folders).append(base / name)
        files.extend(base / name for name in filenames)
    return files, folders


def _inside(folder: Path, path: Path) -> Path:
    """``path`` (absolute, or relative to ``folder``) as a path in ``folder``; refused if it is outside."""
    candidate = path if path.is_absolute() else folder / path
    resolved = candidate.parent.resolve() / candidate.name  # the link itself, if the last part is one
    if folder != resolved.parent and folder not in resolved.parents:
        raise RemovalRefused(f"refusing to remove {path}: it is outside {folder}")
    return resolved


def marker_text(kind: str) -> str:
    """The first line of a plain-text marker: ``loaderbench <kind>``; :func:`names_tool` reads it back."""
    return f"{TOOL} {kind}\n"


def names_tool(path: Path, kind: str) -> bool:
    """Whether a plain-text marker starts with :func:`marker_text` ``(kind)``."""
    try:
        with open(path, encoding="utf-8", errors="replace") as handle:
            return handle.readline() == marker_text(kind)
    except OSError:
        return False
