"""Temporary folders the suite makes for a process, and the sweep that removes them once that process is gone.

File caches, the study's per-stage scratch, the A/B command's work: each lives in a fresh
``loaderbench-<kind>-*`` folder whose marker (:data:`MARKER`) names this tool and the process that made it. The
folder is removed when its work ends. A process killed mid-run (``kill -9``, an OOM kill, a closed terminal)
cannot remove its own, so every new scratch folder first sweeps the parent folder for those whose owner has
exited -- all kinds, since a killed study leaves stage folders beside cache folders -- and says what it removed.
Removal goes through :func:`pipelines.cleanup.ownership.remove_made`: a folder without the marker is left alone, however
it is named.
"""

from __future__ import annotations

import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psutil

from pipelines.cleanup.ownership import Claim, RemovalRefused, is_made, marker_text, names_tool, remove_made

#: The prefix of every scratch folder's name.
PREFIX = "loaderbench-"
#: The marker inside a scratch folder: ``loaderbench scratch``, then the owning process's pid and start time.
MARKER = ".loaderbench-owner"
_KIND = "scratch"

#: A scratch folder holds whatever its work writes (TensorFlow's cache shards, a git worktree): all of it is ours.
SCRATCH = Claim("a scratch folder", MARKER, lambda path: names_tool(path, _KIND), lambda relative: True)


@contextmanager
def scratch_folder(kind: str, parent: Path | str | None = None) -> Iterator[Path]:
    """A fresh ``loaderbench-<kind>-*`` folder in ``parent`` (default: the system's temporary folder), removed
    on exit whatever happens inside; abandoned scratch folders there are swept first."""
    parent = Path(parent or tempfile.gettempdir()).expanduser()
    parent.mkdir(parents=True, exist_ok=True)
    sweep_abandoned(parent)
    folder = Path(tempfile.mkdtemp(prefix=f"{PREFIX}{kind}-", dir=parent))
    me = psutil.Process()
    (folder / MARKER).write_text(marker_text(_KIND) + f"{me.pid} {me.create_time()}\n")
    try:
        yield folder
    finally:
        try:
            remove_made(folder, SCRATCH)
        except (OSError, RemovalRefused) as error:  # never hide what went wrong inside: say so, leave the folder
            print(f"loaderbench: could not remove scratch folder {folder}: {error}", file=sys.stderr)


def owner_alive(folder: Path) -> bool:
    """Whether the process that made scratch ``folder`` still runs (see :func:`process_running`)."""
    try:
        pid, started = (folder / MARKER).read_text().splitlines()[1].split()
        return process_running(int(pid), float(started))
    except (OSError, ValueError, IndexError):
        return False


def process_running(pid: int, started: float, tolerance_s: float = 1.0) -> bool:
    """Whether process ``pid``, started at ``started`` (seconds since the epoch), still runs: same pid *and*
    start time, since pids are reused; a zombie (killed, not yet reaped: where PID 1 does not reap, for ever)
    is gone as far as its work goes."""
    try:
        process = psutil.Process(pid)
        return abs(process.create_time() - started) < tolerance_s and process.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def sweep_abandoned(parent: Path | str, report: bool = True) -> list[Path]:
    """Remove the scratch folders in ``parent`` whose owning process has exited; returns those removed, and
    (``report``) says so on stderr, one line, so a user sees where their disk space went back to."""
    parent = Path(parent)
    removed = []
    for folder in sorted(parent.glob(f"{PREFIX}*")):
        if folder.is_symlink() or not is_made(folder, SCRATCH) or owner_alive(folder):
            continue  # not a scratch folder of ours, or its owner is still at work
        try:
            remove_made(folder, SCRATCH)
        except (RemovalRefused, OSError):
            continue  # changed under us, or not ours after all: left as it is
        removed.append(folder)
    if removed and report:
        print(f"loaderbench: removed {len(removed)} scratch folder(s) left by killed runs: "
              + ", ".join(str(f) for f in removed), file=sys.stderr)
    return removed
