"""The watcher that removes a cgroup of ours when the process that made it dies without removing it (``kill
-9``, an OOM kill of the maker itself, a closed terminal).

``python -m pipelines.limits.reaper --parent-pid P --parent-start T FOLDER...`` runs in a session of its own,
outside the cgroup, and checks twice a second: once every folder is gone (the maker removed them) it exits; once
the maker is gone (same pid and start time: pids are reused), it kills what is left inside -- only the suite's
own processes are put there -- removes the folders, and exits.
"""

from __future__ import annotations

import signal
import sys
import time
from dataclasses import replace
from pathlib import Path

from pipelines.cleanup.scratch import process_running
from pipelines.limits.cgroup import remove_folders
from pipelines.options import Option, add_options, command_parser
from pipelines.values import count, non_negative, positive

#: The process a child serves and exits with (the reaper's maker; a study's levels child's study).
PARENT_PID = Option("--parent-pid", "the pid of the process this one serves: once it is gone, this one acts and "
                    "exits", parse=count, metavar="PID", default_text="")
PARENT_START = Option("--parent-start", "that process's start time (seconds since the epoch, as psutil gives it): a "
                      "reused pid is not taken for it", parse=non_negative, metavar="SECONDS", required=True)
POLL_S = Option("--poll-s", "seconds between checks", parse=positive, default=0.5, metavar="SECONDS")
FOLDERS = Option("folders", "the cgroup folders to remove once the maker is gone", parse=Path, metavar="FOLDER",
                 nargs="+", default_text="")


def main(argv: list[str] | None = None) -> int:
    parser = command_parser("python -m pipelines.limits.reaper", __doc__)
    add_options(parser.add_argument, replace(PARENT_PID, required=True), PARENT_START, POLL_S, FOLDERS)
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
