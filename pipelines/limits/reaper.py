"""The watcher that removes a cgroup of ours when the process that made it dies without removing it (``kill
-9``, an OOM kill of the maker itself, a closed terminal).

``python -m pipelines.limits.reaper --parent-pid P --parent-start T FOLDER...`` runs in a session of its own,
outside the cgroup, and checks twice a second: once every folder is gone (the maker removed them) it exits; once
the maker is gone (same pid and start time: pids are reused), it kills what is left inside -- only the suite's
own processes are put there -- removes the folders, and exits.
"""

from __future__ import annotations

import argparse
import signal
import sys
import time
from pathlib import Path

from pipelines.cleanup.scratch import process_running
from pipelines.limits.cgroup import remove_folders


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pipelines.limits.reaper")
    parser.add_argument("--parent-pid", type=int, required=True)
    parser.add_argument("--parent-start", type=float, required=True)
    parser.add_argument("--poll-s", type=float, default=0.5)
    parser.add_argument("folders", nargs="+", type=Path)
    args = parser.parse_args(argv)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # a Ctrl-C meant for the run must not end the clean-up
    while any(f.exists() for f in args.folders):
        if not process_running(args.parent_pid, args.parent_start):
            left = remove_folders(args.folders, timeout_s=30.0)
            return 1 if left else 0
        time.sleep(args.poll_s)
    return 0


if __name__ == "__main__":
    sys.exit(main())
