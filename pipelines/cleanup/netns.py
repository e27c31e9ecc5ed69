"""Removing the emulated hosts the suite made (:mod:`pipelines.dataservice.hosts`): their network namespaces, the
processes inside them (only the suite's own run there) and their links -- for the hosts' own removal and for the
watcher that removes them when their maker was killed (:mod:`pipelines.limits.reaper`)."""

from __future__ import annotations

import os
import signal
import subprocess
from collections.abc import Iterable
from pathlib import Path

#: Where ``ip netns`` keeps its named namespaces.
NETNS_DIR = Path("/run/netns")
#: Where the kernel lists this namespace's links.
LINKS_DIR = Path("/sys/class/net")


def namespace_pids(netns: str) -> list[int]:
    """The processes running in namespace ``netns``."""
    done = subprocess.run(["ip", "netns", "pids", netns], capture_output=True, text=True)
    return [int(word) for word in done.stdout.split() if word.isdigit()]


def remove_hosts(namespaces: Iterable[str], links: Iterable[str]) -> None:
    """SIGKILL every process in ``namespaces``, delete them, then delete ``links`` (a veth goes with its namespace
    anyway, a bridge does not)."""
    for netns in namespaces:
        if (NETNS_DIR / netns).exists():
            for pid in namespace_pids(netns):
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            subprocess.run(["ip", "netns", "del", netns], capture_output=True)
    for link in links:
        if (LINKS_DIR / link).exists():
            subprocess.run(["ip", "link", "del", link], capture_output=True)


def leftovers(namespaces: Iterable[str], links: Iterable[str]) -> list[str]:
    """Which of ``namespaces`` and ``links`` still exist."""
    return [n for n in namespaces if (NETNS_DIR / n).exists()] + [link for link in links if (LINKS_DIR / link).exists()]
