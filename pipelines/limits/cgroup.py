"""A Linux cgroup the suite makes, fills with its own processes, and removes: the RAM, read rate and CPU time of a
smaller machine, enforced by the kernel rather than assumed.

A memory limit in a cgroup holds everything the processes in it are charged for -- their heap *and* the page
cache of the files they read -- so a 16 GB limit on a 24 GB machine behaves as a 16 GB machine does: JPEGs that
do not fit are read from storage again, a memory cache that does not fit is OOM-killed. A read-rate limit
throttles reads from the block device under the dataset and the caches, as a slower disk would serve them.

Two kernels' interfaces, whichever this process may write:

* cgroup v2 (``memory.max``, ``io.max``, ``cpu.max``) in this process's own cgroup, where that subtree is
  delegated to the user (``systemd-run --user --scope -p Delegate=yes``) or the user is root;
* cgroup v1 (``memory.limit_in_bytes``, ``blkio.throttle.read_bps_device``, ``cpu.cfs_quota_us``) under this
  process's own groups of the ``memory``, ``blkio`` and ``cpu`` hierarchies, which needs root.

A CPU quota (an emulated host of the tf.data service: :mod:`pipelines.dataservice.cluster`) is CFS bandwidth
control: the processes inside get ``cpus`` x 100 ms of CPU time every 100 ms, on whichever cores they run.

Where neither can be made, :class:`CgroupUnavailable` says in one line why and what would enable it.

A cgroup of ours is named ``loaderbench-<pid>-<start>-<n>`` after the process that made it
(:mod:`pipelines.limits.make` makes it). It is removed when its work ends; a watcher process
(:mod:`pipelines.limits.reaper`, outside the cgroup) removes it when the maker is killed (``kill -9``), and
every new one first removes the empty ones whose maker has exited. Removing a cgroup (``rmdir``) touches no
file: the kernel refuses while a process is in it. This module is what a cgroup of ours is, where this
process's cgroups are, and how one goes.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import psutil

#: The prefix of every cgroup the suite makes.
PREFIX = "loaderbench-"


class CgroupUnavailable(RuntimeError):
    """No cgroup with the limits asked for can be made here; the message is one line: why, and what enables it."""


@dataclass(frozen=True)
class Limits:
    """A smaller machine's limits.

    Attributes:
        memory_bytes: RAM the processes may hold, page cache included; ``None``: no limit.
        read_bps: bytes per second reads from ``read_paths``' block devices may take; ``None``: no limit.
        read_paths: files or folders whose devices are throttled (the dataset, the cache folder).
        cpus: CPU time the processes may use, in cores (``0.25``: a quarter of one core's time); ``None``: no quota.
    """

    memory_bytes: int | None = None
    read_bps: int | None = None
    read_paths: tuple[Path, ...] = ()
    cpus: float | None = None

    def __post_init__(self) -> None:
        if self.memory_bytes is not None and self.memory_bytes <= 0:
            raise ValueError(f"a RAM limit must be positive, got {self.memory_bytes}")
        if self.read_bps is not None and self.read_bps <= 0:
            raise ValueError(f"a read rate must be positive, got {self.read_bps}")
        if self.cpus is not None and not 0.01 <= self.cpus <= 1024:
            raise ValueError(f"a CPU quota from 0.01 to 1024 cores, got {self.cpus}")

    @property
    def any(self) -> bool:
        return self.memory_bytes is not None or self.read_bps is not None or self.cpus is not None


@dataclass
class Cgroup:
    """One cgroup of ours: a folder per hierarchy it lives in (one on v2; ``memory`` and/or ``blkio`` on v1).

    Attributes:
        version: 1 or 2.
        memory: the folder holding the memory controller's files (``None``: no memory limit).
        folders: every folder of this cgroup (processes are added to each).
        limits: what it enforces.
    """

    version: int
    memory: Path | None
    folders: tuple[Path, ...]
    limits: Limits
    _reaper: subprocess.Popen | None = field(default=None, repr=False)

    def add(self, pid: int) -> None:
        """Move process ``pid`` (all its threads) into the cgroup."""
        for folder in self.folders:
            (folder / "cgroup.procs").write_text(f"{pid}\n")

    def pids(self) -> set[int]:
        found: set[int] = set()
        for folder in self.folders:
            try:
                found |= {int(line) for line in (folder / "cgroup.procs").read_text().split()}
            except OSError:
                continue
        return found

    def _memory_value(self, v1: str, v2: str) -> int | None:
        if self.memory is None:
            return None
        try:
            return int((self.memory / (v1 if self.version == 1 else v2)).read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return None

    def _counter(self, v1_file: str, v2_file: str, key: str) -> int:
        if self.memory is None:
            return 0
        try:
            text = (self.memory / (v1_file if self.version == 1 else v2_file)).read_text()
        except OSError:
            return 0
        values = dict(line.split()[:2] for line in text.splitlines() if len(line.split()) >= 2)
        return int(values.get(key, 0))

    def oom_kills(self) -> int:
        """Processes the kernel killed here for want of memory so far."""
        return self._counter("memory.oom_control", "memory.events", "oom_kill")

    def peak_bytes(self) -> int | None:
        """The most memory charged here at once (``None`` where the kernel does not say)."""
        return self._memory_value("memory.max_usage_in_bytes", "memory.peak")

    def available_bytes(self) -> int | None:
        """What the limit leaves for a new allocation (:func:`memory_left`); ``None`` without a memory limit."""
        left = memory_left(self.memory, self.version) if self.memory is not None else None
        return left[0] if left else None

    def remove(self, timeout_s: float = 10.0) -> None:
        """Kill what is still inside (the suite's own processes: nothing else is put here), then remove the
        folders; the watcher is stopped once they are gone."""
        remove_folders(self.folders, timeout_s)
        if self._reaper is not None and self._reaper.poll() is None:
            self._reaper.terminate()
            self._reaper.wait(timeout=5)


def remove_folders(folders: Iterable[Path], timeout_s: float = 10.0) -> list[Path]:
    """Kill the processes in each of our cgroup ``folders`` and ``rmdir`` them, any of ours made inside one
    first (a probe's, inside a run's); returns those still there (the kernel may take a moment to let a killed
    process go)."""
    left = [f for f in folders if f.name.startswith(PREFIX) and f.is_dir()]
    deadline = time.monotonic() + timeout_s
    while left:
        for folder in list(left):
            try:
                remove_folders(sorted(folder.glob(f"{PREFIX}*")), timeout_s=0)  # one made inside it goes first
                for pid in (folder / "cgroup.procs").read_text().split():
                    if int(pid) != os.getpid():
                        os.kill(int(pid), signal.SIGKILL)
                folder.rmdir()
                left.remove(folder)
            except FileNotFoundError:
                left.remove(folder)
            except OSError:
                pass  # busy: a killed process not yet gone
        if not left or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    return left


def own_groups() -> dict[str, str]:
    """This process's cgroup per hierarchy: ``{"memory": "/a/b", "blkio": "/", "": "/x"}`` (``""``: v2)."""
    groups = {}
    for line in Path("/proc/self/cgroup").read_text().splitlines():
        _, controllers, path = line.split(":", 2)
        for controller in controllers.split(",") if controllers else [""]:
            groups[controller] = path
    return groups


def mounts() -> dict[str, Path]:
    """Mount points of the cgroup hierarchies: ``{"memory": ..., "blkio": ..., "cpu": ..., "": v2's}``."""
    mounts: dict[str, Path] = {}
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        left, _, right = line.partition(" - ")
        fields, rest = left.split(), right.split()
        if len(rest) < 3 or len(fields) < 5:
            continue
        if rest[0] == "cgroup2":
            mounts.setdefault("", Path(fields[4]))
        elif rest[0] == "cgroup":
            for option in rest[2].split(","):
                if option in ("memory", "blkio", "cpu"):
                    mounts.setdefault(option, Path(fields[4]))
    return mounts


#: Per cgroup version: the memory limit's file, the charged memory's, and memory.stat's page-cache key.
_MEMORY_FILES = {1: ("memory.limit_in_bytes", "memory.usage_in_bytes", "total_cache"),
                 2: ("memory.max", "memory.current", "file")}


def memory_left(folder: Path, version: int) -> tuple[int, int] | None:
    """``(available, limit)`` bytes of the memory cgroup ``folder``: the limit less what is charged, the page
    cache of files (which the kernel drops before it kills) counted as free; ``None`` where it has no limit
    or its files cannot be read."""
    limit_file, usage_file, cache_key = _MEMORY_FILES[version]
    try:
        limit, used = (folder / limit_file).read_text().strip(), int((folder / usage_file).read_text())
        stat = dict(line.split()[:2] for line in (folder / "memory.stat").read_text().splitlines())
    except (OSError, ValueError):
        return None
    if not limit.isdigit():  # v2's "max": no limit
        return None
    return max(int(limit) - max(used - int(stat.get(cache_key, 0)), 0), 0), int(limit)


def memory_room() -> tuple[int, int] | None:
    """:func:`memory_left` of the memory cgroup this process is in, where it has a limit below the machine's
    RAM (``--ram-limit``); ``None`` otherwise."""
    groups, mounted = own_groups(), mounts()
    for key, version in (("memory", 1), ("", 2)):
        if key in groups and key in mounted:
            left = memory_left(mounted[key] / groups[key].lstrip("/"), version)
            if left and left[1] < psutil.virtual_memory().total:
                return left
    return None


def block_device(path: Path) -> str:
    """``major:minor`` of the whole disk under ``path`` (a partition's disk: throttles apply to disks)."""
    probe = Path(path).expanduser()
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    device = os.stat(probe).st_dev
    major, minor = os.major(device), os.minor(device)
    sysfs = Path(f"/sys/dev/block/{major}:{minor}")
    if major == 0 or not sysfs.exists():
        raise CgroupUnavailable(f"{path} is on no block device (major {major}: a tmpfs, overlay or network "
                                "file system): its reads cannot be throttled; put the data and --cache-dir on a disk")
    if (sysfs / "partition").exists():
        return (sysfs.resolve().parent / "dev").read_text().strip()
    return f"{major}:{minor}"
