"""Making a cgroup of ours: named after its maker, made under the maker's own cgroups (v2 where its controllers
can be used, else v1), with its limits written, abandoned ones swept first, and a watcher started that removes
it if the maker is killed (see :mod:`pipelines.limits.cgroup` for what a cgroup of ours is and how it goes)."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterable, Sequence
from itertools import count
from pathlib import Path

import psutil

from pipelines.limits import cgroup as hierarchy
from pipelines.limits.cgroup import PREFIX, Cgroup, CgroupUnavailable, Limits, remove_folders

_SEQUENCE = count()
#: The CFS period of a CPU quota (the kernel's default): ``cpus`` x this much CPU time in every such period.
CPU_PERIOD_US = 100_000


def _quota_us(cpus: float) -> int:
    return max(1000, round(cpus * CPU_PERIOD_US))  # the kernel's least quota is 1 ms


def owner_name() -> str:
    """A fresh name of ours, ``loaderbench-<pid>-<start>-<n>``, for what this process makes (a cgroup, an emulated
    host): a sweep reads the maker from it and tells a killed run's leftovers from a live run's."""
    me = psutil.Process()
    return f"{PREFIX}{me.pid}-{int(me.create_time())}-{next(_SEQUENCE)}"


def owner_alive(name: str) -> bool:
    """Whether the process a thing of ours is named after (``loaderbench-<pid>-<start>-...``) still runs."""
    from pipelines.cleanup.scratch import process_running

    try:
        pid, started = name[len(PREFIX):].split("-")[:2]
        return process_running(int(pid), int(started), tolerance_s=2.0)  # the name keeps whole seconds
    except ValueError:
        return False


def sweep_abandoned_cgroups(parents: Iterable[Path]) -> list[Path]:
    """Remove the empty cgroups of ours in ``parents`` whose maker has exited (a killed run's watcher that did
    not get to it); says so on stderr."""
    removed = []
    for parent in parents:
        for folder in sorted(parent.glob(f"{PREFIX}*")):
            if folder.is_dir() and not owner_alive(folder.name):
                try:
                    folder.rmdir()  # refused while a process is inside: then it is left
                    removed.append(folder)
                except OSError:
                    continue
    if removed:
        print(f"loaderbench: removed {len(removed)} cgroup(s) left by killed runs: "
              + ", ".join(str(f) for f in removed), file=sys.stderr)
    return removed


def _write(folder: Path, name: str, value: str) -> None:
    try:
        (folder / name).write_text(value)
    except OSError as error:
        raise CgroupUnavailable(f"cannot set {folder / name} to {value.strip()!r}: {error.strerror}") from None


def _make(parent: Path, what: str) -> Path:
    try:
        folder = parent / owner_name()
        folder.mkdir()
        return folder
    except OSError as error:
        raise CgroupUnavailable(
            f"cannot make a {what} cgroup in {parent} ({error.strerror}): {ENABLE_HINT}") from None


#: What makes a cgroup possible, for the one-line reason.
ENABLE_HINT = ("run as root on cgroup v1, or where this process's cgroup v2 subtree is delegated to you "
               "(e.g. under `systemd-run --user --scope -p Delegate=yes`)")


def make_cgroup(limits: Limits, watch: bool = True) -> Cgroup:
    """A new cgroup enforcing ``limits``, under this process's own cgroups (v2 if its controllers can be
    used, else v1), after sweeping abandoned ones; with ``watch``, a watcher removes it if this process dies.
    Raises :class:`CgroupUnavailable` with the reason otherwise (nothing is left behind)."""
    if not limits.any:
        raise ValueError("no limit asked for")
    if not sys.platform.startswith("linux"):
        raise CgroupUnavailable(f"cgroups are Linux's; this is {sys.platform}")
    devices = sorted({hierarchy.block_device(p) for p in limits.read_paths}) if limits.read_bps else []
    groups, mounts = hierarchy.own_groups(), hierarchy.mounts()
    made: list[Path] = []
    try:
        cgroup = _make_v2(limits, devices, groups, mounts, made)
        if cgroup is None:
            cgroup = _make_v1(limits, devices, groups, mounts, made)
    except BaseException:
        remove_folders(made)
        raise
    if watch:
        cgroup._reaper = start_reaper(folders=cgroup.folders)
    return cgroup


def _make_v2(limits: Limits, devices: Sequence[str], groups: dict[str, str], mounts: dict[str, Path],
             made: list[Path]) -> Cgroup | None:
    """The v2 cgroup, or ``None`` where this process's v2 cgroup lacks the controllers (then v1 is tried)."""
    if "" not in mounts or "" not in groups:
        return None
    parent = mounts[""] / groups[""].lstrip("/")
    wanted = ((["memory"] if limits.memory_bytes else []) + (["io"] if limits.read_bps else [])
              + (["cpu"] if limits.cpus else []))
    try:
        available = (parent / "cgroup.controllers").read_text().split()
    except OSError:
        return None
    if not set(wanted) <= set(available):
        return None
    sweep_abandoned_cgroups([parent])
    enabled = (parent / "cgroup.subtree_control").read_text().split()
    for controller in wanted:
        if controller not in enabled:
            try:
                _write(parent, "cgroup.subtree_control", f"+{controller}\n")
            except CgroupUnavailable as error:  # v2 lets no cgroup with processes hand controllers down
                raise CgroupUnavailable(f"{error}; {ENABLE_HINT}") from None
    folder = _make(parent, "cgroup v2")
    made.append(folder)
    if limits.memory_bytes:
        _write(folder, "memory.max", f"{limits.memory_bytes}\n")
        if (folder / "memory.swap.max").exists():  # no swapping past the limit either
            _write(folder, "memory.swap.max", "0\n")
    for device in devices:
        _write(folder, "io.max", f"{device} rbps={limits.read_bps}\n")
    if limits.cpus:
        _write(folder, "cpu.max", f"{_quota_us(limits.cpus)} {CPU_PERIOD_US}\n")
    return Cgroup(2, folder if limits.memory_bytes else None, (folder,), limits)


def _make_v1(limits: Limits, devices: Sequence[str], groups: dict[str, str], mounts: dict[str, Path],
             made: list[Path]) -> Cgroup:
    wanted = ((["memory"] if limits.memory_bytes else []) + (["blkio"] if limits.read_bps else [])
              + (["cpu"] if limits.cpus else []))
    missing = [c for c in wanted if c not in mounts or c not in groups]
    if missing:
        raise CgroupUnavailable(f"no cgroup {' or '.join(missing)} controller is mounted for this process: "
                                + ENABLE_HINT)
    folders = {}
    for controller in wanted:
        parent = mounts[controller] / groups[controller].lstrip("/")
        sweep_abandoned_cgroups([parent])
        folders[controller] = _make(parent, f"cgroup v1 {controller}")
        made.append(folders[controller])
    memory = folders.get("memory")
    if memory is not None:
        _write(memory, "memory.limit_in_bytes", f"{limits.memory_bytes}\n")
        if (memory / "memory.memsw.limit_in_bytes").exists():  # no swapping past the limit either
            try:
                (memory / "memory.memsw.limit_in_bytes").write_text(f"{limits.memory_bytes}\n")
            except OSError:
                pass  # no swap accounting: RAM alone is limited
    for device in devices:
        _write(folders["blkio"], "blkio.throttle.read_bps_device", f"{device} {limits.read_bps}\n")
    if limits.cpus:
        _write(folders["cpu"], "cpu.cfs_period_us", f"{CPU_PERIOD_US}\n")
        _write(folders["cpu"], "cpu.cfs_quota_us", f"{_quota_us(limits.cpus)}\n")
    return Cgroup(1, memory, tuple(folders.values()), limits)


def start_reaper(folders: Sequence[Path] = (), netns: Sequence[str] = (),
                 links: Sequence[str] = ()) -> subprocess.Popen:
    """The watcher (:mod:`pipelines.limits.reaper`) of these cgroup ``folders``, network namespaces and links: its
    own session, outside the cgroup, so that neither a ``kill -9`` of this process nor a Ctrl-C to its terminal
    ends it before its work is done."""
    from pipelines.cleanup.children import child_environment, module_command

    me = psutil.Process()
    args = ["--parent-pid", str(me.pid), "--parent-start", str(me.create_time()), *map(str, folders)]
    args += ["--netns", ",".join(netns)] if netns else []
    args += ["--links", ",".join(links)] if links else []
    return subprocess.Popen(module_command("pipelines.limits.reaper", args), env=child_environment(),
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)


def check_cgroup(limits: Limits) -> None:
    """Whether a cgroup enforcing ``limits`` can be made here: one is made and removed at once, before a command
    does any work that would need it; raises :class:`CgroupUnavailable` with the reason (nothing left behind)."""
    cgroup = make_cgroup(limits, watch=False)
    remove_folders(cgroup.folders)
