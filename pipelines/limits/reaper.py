"""The watcher that removes a cgroup of ours, or emulated hosts of ours, when the process that made them dies
without removing them (``kill -9``, an OOM kill of the maker itself, a closed terminal).

``python -m pipelines.limits.reaper --parent-pid P --parent-start T [--netns N,...] [--links L,...] [FOLDER...]``
runs in a session of its own, outside the cgroup, and checks twice a second: once every folder, namespace and
link is gone (the maker removed them) it exits; once the maker is gone (same pid and start time: pids are
reused), it kills what is left inside -- only the suite's own processes are put there -- removes them all
(:mod:`pipelines.cleanup.netns` for the namespaces and links), and exits.
"""

from __future__ import annotations

import signal
import sys
import time
from dataclasses import replace
from pathlib import Path

from pipelines.cleanup.netns import leftovers, remove_hosts
from pipelines.cleanup.scratch import process_running
from pipelines.limits.cgroup import remove_folders
from pipelines.options import Option, add_options, command_parser
from pipelines.values import count, names, non_negative, positive

#: The process a child serves and exits with (the reaper's maker; a study's levels child's study).
PARENT_PID = Option("--parent-pid", "the pid of the process this one serves: once it is gone, this one acts and "
                    "exits", parse=count, metavar="PID", default_text="")
PARENT_START = Option("--parent-start", "that process's start time (seconds since the epoch, as psutil gives it): a "
                      "reused pid is not taken for it", parse=non_negative, metavar="SECONDS", required=True)
POLL_S = Option("--poll-s", "seconds between checks", parse=positive, default=0.5, metavar="SECONDS")
FOLDERS = Option("folders", "the cgroup folders to remove once the maker is gone", parse=Path, metavar="FOLDER",
                 nargs="*", default_text="")
NETNS = Option("--netns", "network namespaces to remove once the maker is gone", parse=names, default=(),
               metavar="NAME,...", default_text="")
LINKS = Option("--links", "network links to remove once the maker is gone", parse=names, default=(),
               metavar="NAME,...", default_text="")


def main(argv: list[str] | None = None) -> int:
    parser = command_parser("python -m pipelines.limits.reaper", __doc__)
    add_options(parser.add_argument, replace(PARENT_PID, required=True), PARENT_START, POLL_S, NETNS, LINKS,
                FOLDERS)
    args = parser.parse_args(argv)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # a Ctrl-C meant for the run must not end the clean-up
    while any(f.exists() for f in args.folders) or leftovers(args.netns, args.links):
        if not process_running(args.parent_pid, args.parent_start):
            left = remove_folders(args.folders, timeout_s=30.0)
            remove_hosts(args.netns, args.links)
            return 1 if left else 0
        time.sleep(args.poll_s)
    return 0


if __name__ == "__main__":
    sys.exit(main())
