"""A whole run (a benchmark session, a study) on a smaller machine: the run's own process moved into a cgroup
of ours for its duration, so that every case -- its heap, its children, the page cache of what it reads -- is
held to ``--ram-limit`` and ``--read-bandwidth``, and moved out again before the cgroup is removed.

:class:`LimitSettings` holds the options' one declaration; the benchmarks' and the study's settings hold one.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from pipelines.limits.cgroup import Cgroup, Limits
from pipelines.limits.make import make_cgroup
from pipelines.options import Option
from pipelines.values import rate, size
from pipelines.units import format_bytes
from pipelines.validation import require

if TYPE_CHECKING:  # types only: the probe's module is imported when a cache is run exceeding the limit
    from pipelines.limits.probe import Outcome


RAM_LIMIT = Option("--ram-limit", "run as on a machine with this much RAM, page cache included, e.g. 16GB: the run "
                   "moves into a memory cgroup (Linux: root, or a delegated cgroup v2 subtree; docs/limits.md)",
                   parse=size, metavar="SIZE", default_text="this machine's")
READ_BANDWIDTH = Option("--read-bandwidth", "throttle reads from the dataset's and the caches' disks to this rate, "
                        "e.g. 150MB/s (a HDD) -- a cgroup too (docs/limits.md)", parse=rate, metavar="RATE",
                        default_text="the disk's own")
RUN_EXCEEDING = Option("--run-exceeding", "with --ram-limit: run a memory cache predicted not to fit anyway, in a "
                       "child under the limit, and report whether it was OOM-killed beside the prediction",
                       parse=None, default=False)


@dataclass(frozen=True)
class LimitSettings:
    """A smaller machine to run on (all opt-in).

    Attributes:
        ram_limit: bytes of RAM the run may hold, page cache included (``--ram-limit``); ``None``: this machine's.
        read_bandwidth: bytes a second reads from the dataset's and the caches' disks may take
            (``--read-bandwidth``); ``None``: the disk's own.
        run_exceeding: run a memory cache the predictor says will not fit the limit anyway, in a child under it,
            and record what happened (``--run-exceeding``; needs ``ram_limit``).
    """

    ram_limit: int | None = RAM_LIMIT.field()
    read_bandwidth: int | None = READ_BANDWIDTH.field()
    run_exceeding: bool = RUN_EXCEEDING.field()

    def __post_init__(self) -> None:
        require(self.ram_limit is None or self.ram_limit > 0, "--ram-limit must be positive")
        require(self.read_bandwidth is None or self.read_bandwidth > 0, "--read-bandwidth must be positive")
        require(not self.run_exceeding or self.ram_limit is not None,
                "--run-exceeding runs the memory caches that exceed --ram-limit under that limit: add "
                "--ram-limit SIZE (or leave --run-exceeding out)")

    @property
    def any(self) -> bool:
        return self.ram_limit is not None or self.read_bandwidth is not None

    def limits(self, read_paths: tuple[Path | None, ...]) -> Limits:
        """The cgroup's limits, reads throttled on the disks under ``read_paths`` (``None``: the temporary
        folder, where file caches go by default)."""
        paths = tuple(Path(p or tempfile.gettempdir()) for p in read_paths)
        return Limits(self.ram_limit, self.read_bandwidth, paths if self.read_bandwidth else ())

    def line(self) -> str:
        parts = ([f"RAM limited to {format_bytes(self.ram_limit)} (page cache included)"] if self.ram_limit else [])
        parts += [f"reads limited to {format_bytes(self.read_bandwidth)}/s"] if self.read_bandwidth else []
        return ", ".join(parts)


def limit_this_process(limits: Limits) -> Cgroup:
    """Move this process into a new cgroup enforcing ``limits`` (a watcher removes it if the process dies);
    :func:`release` undoes it. Raises :class:`~pipelines.limits.cgroup.CgroupUnavailable` with the reason."""
    cgroup = make_cgroup(limits)
    try:
        if cgroup.version == 1 and cgroup.memory is not None:
            try:  # charge what this process already holds to the limit too (v1 only; v2 never moves charges)
                (cgroup.memory / "memory.move_charge_at_immigrate").write_text("3\n")
            except OSError:
                pass
        cgroup.add(os.getpid())
    except BaseException:
        cgroup.remove()
        raise
    return cgroup


def release(cgroup: Cgroup) -> None:
    """Move this process back to the cgroups it came from (each folder's parent) and remove ``cgroup``."""
    for folder in cgroup.folders:
        try:
            (folder.parent / "cgroup.procs").write_text(f"{os.getpid()}\n")
        except OSError:
            pass  # the folder is gone already (its watcher, or an earlier release)
    cgroup.remove()


class LimitedRun:
    """A run held to :class:`LimitSettings`: this process in the cgroup from start to :meth:`close`, the RAM a
    memory cache may take measured against what the limit leaves, and the caches run exceeding it
    (``--run-exceeding``), each once, with their outcomes kept for the record."""

    def __init__(self, settings: LimitSettings, read_paths: tuple[Path | None, ...]) -> None:
        self.settings = settings
        self.cgroup = limit_this_process(settings.limits(read_paths))
        self.read_paths = read_paths
        self.outcomes: dict[str, Outcome] = {}

    def budget(self, default: int) -> int:
        """``default`` (a RAM budget or the machine's available RAM), capped by what the limit leaves now."""
        left = self.cgroup.available_bytes()
        return default if left is None else min(default, left)

    def run_exceeding(self, loader: str, cache: str, placement: str, dataset: Path, contract,
                      images: int) -> Outcome:
        """The :class:`~pipelines.limits.probe.Outcome` of this cache under the limit (run once a session)."""
        from pipelines.limits.probe import contract_fields, probe_cache
        from pipelines.memory.predict import predict_cache, ram_needed

        key = f"{loader}-{cache}-{placement}"
        if key not in self.outcomes:
            prediction = predict_cache(images, contract.with_(cache=cache, placement=placement))
            self.outcomes[key] = probe_cache(loader, cache, placement, dataset, contract_fields(contract),
                                             prediction.total_bytes, ram_needed(prediction), images,
                                             self.settings.limits(self.read_paths), self.cgroup.available_bytes())
        return self.outcomes[key]

    def close(self) -> None:
        release(self.cgroup)
