"""How much of the machine a measurement had: the CPU other processes (and the hypervisor) took while it ran.

The regression gate divides the machine's drift out with a paired reference (:mod:`pipelines.epoch.reference`). That
corrects a machine that is slower as a whole (a VM's clock throttled, a noisy host), which slows both workloads
alike; it does not correct a *neighbour* -- another process busy on one of the cores -- which slows a pipeline
that wants every core and a reference that wants every core by different amounts, in either direction
(docs/gate.md measures it with one of two cores busy). A gate must therefore know
whether a run had the machine to itself, and say "inconclusive" when it did not, instead of a verdict.

:class:`ContentionMeter` reads the system-wide CPU counters (``/proc/stat`` through psutil) and this process
tree's own CPU time at the start and end of a case's timed rounds: what the whole machine was busy with, less
what this process and its children did, over the wall time, is the number of cores others used; the
hypervisor's steal time is counted apart.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import psutil

from pipelines.machine import available_cores


@dataclass(frozen=True)
class Contention:
    """What others took of the machine during a measurement, in cores (1.0: one core, the whole time).

    Attributes:
        other_cores: CPU time of every other process over the wall time.
        steal_cores: time the hypervisor gave this VM's CPUs to another guest, over the wall time.
        cores: the cores this process may run on.
        seconds: the wall time measured over.
    """

    other_cores: float
    steal_cores: float
    cores: int
    seconds: float


def _tree_cpu_s(process: psutil.Process) -> float:
    """CPU seconds of ``process`` and of its children, live ones and those it has waited for."""
    total = 0.0
    try:
        times = process.cpu_times()
        total += times.user + times.system + times.children_user + times.children_system
        for child in process.children(recursive=True):
            try:
                child_times = child.cpu_times()
                total += child_times.user + child_times.system
            except psutil.Error:
                pass  # exited in between: its time shows in the parent's children_* once waited for
    except psutil.Error:
        pass
    return total


def _system_s() -> tuple[float, float]:
    """Busy and steal CPU seconds of the whole machine since boot (idle and I/O wait are not busy)."""
    times = psutil.cpu_times()
    steal = getattr(times, "steal", 0.0)
    idle = times.idle + getattr(times, "iowait", 0.0)
    busy = sum(times) - idle - steal - getattr(times, "guest", 0.0) - getattr(times, "guest_nice", 0.0)
    return busy, steal


class ContentionMeter:
    """``start()`` before the timed work, ``stop()`` after: the :class:`Contention` in between."""

    def __init__(self) -> None:
        self._process = psutil.Process()
        self._start: tuple[float, float, float, float] | None = None

    def start(self) -> None:
        self._start = (time.perf_counter(), *_system_s(), _tree_cpu_s(self._process))

    def stop(self) -> Contention:
        if self._start is None:
            raise RuntimeError("ContentionMeter.stop() before start()")
        wall0, busy0, steal0, own0 = self._start
        wall, (busy, steal), own = time.perf_counter() - wall0, _system_s(), _tree_cpu_s(self._process)
        wall = max(wall, 1e-9)
        # The counters tick at 100 Hz and are read at slightly different moments: clamp the small negative
        # readings that leaves on a quiet machine.
        others = max(0.0, (busy - busy0) - (own - own0)) / wall
        return Contention(round(others, 3), round(max(0.0, steal - steal0) / wall, 3), available_cores(),
                          round(wall, 3))
