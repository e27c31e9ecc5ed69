"""What filling RAM costs the kernel: an epoch's page faults and its time in the kernel and out of it
(``getrusage``).

A memory cache's first epoch writes every cached tensor into memory the process has not held before, and each 4 KB
page of it is a page fault the kernel serves: it finds a free page and zeroes it, and on a VM whose balloon hands
freed pages back to the host (virtio-balloon free page reporting) the host must back the page again before the
guest can touch it. That work is the cores' (time in the kernel, not in the loader), so it adds to the epoch rather
than overlapping with it. A later round into memory the allocator kept from the round before pays almost nothing
(the page-fault counts say which rounds did). A per-image law fitted on fills of a few hundred megabytes, measured
through the median of rounds that mostly reuse memory, does not see the cost; at the full size, where every byte of
a cache is a fresh page, it is most of the fill. So every timed epoch counts its faults (:class:`FaultMeter`),
and the harness records them beside the epoch's time.

Counters are this process's (every thread of it); a loader's worker processes fault in their own.
"""

from __future__ import annotations

import resource
import time
from collections.abc import Sequence
from dataclasses import dataclass

#: Bytes of one page fault, as the kernel hands anonymous memory out without huge pages.
PAGE_BYTES = resource.getpagesize()


@dataclass(frozen=True)
class PageFaults:
    """This process's page faults over a measurement (an epoch).

    Attributes:
        faults: minor page faults (each a page handed out or mapped; no disk read).
        kernel_s: CPU seconds its threads spent in the kernel (all threads together: up to cores x wall time).
        seconds: wall time measured over.
        user_s: CPU seconds its threads spent outside the kernel (0: not counted, a record that predates it).
    """

    faults: int
    kernel_s: float
    seconds: float
    user_s: float = 0.0

    @property
    def fault_bytes(self) -> int:
        """The bytes those faults handed out, a page each."""
        return self.faults * PAGE_BYTES

    @classmethod
    def per_epoch(cls, epochs: Sequence[PageFaults]) -> PageFaults:
        """One epoch of a round of several (``epochs``, each counted alone): their mean, as a round's time is
        kept as seconds per epoch."""
        n = len(epochs)
        return cls(round(sum(e.faults for e in epochs) / n), sum(e.kernel_s for e in epochs) / n,
                   sum(e.seconds for e in epochs) / n, sum(e.user_s for e in epochs) / n)

    def busy(self, cores: int) -> float | None:
        """The share of ``cores`` x its wall time its threads were on a core (in the kernel or not): under 1, the
        epoch waited for something other than its cores (storage, a throttled write, a lock); ``None`` where
        the time outside the kernel was not counted."""
        return (self.user_s + self.kernel_s) / (cores * self.seconds) if self.user_s and self.seconds > 0 else None


def _usage() -> tuple[int, float, float]:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_minflt, usage.ru_stime, usage.ru_utime


class FaultMeter:
    """``start()`` before an epoch, ``stop()`` after it: the :class:`PageFaults` in between."""

    def __init__(self) -> None:
        self._start: tuple[int, float, float, float] | None = None

    def start(self) -> None:
        self._start = (*_usage(), time.perf_counter())

    def stop(self) -> PageFaults:
        if self._start is None:
            raise RuntimeError("FaultMeter.stop() before start()")
        faults, kernel_s, user_s = _usage()
        first_faults, first_kernel_s, first_user_s, started = self._start
        return PageFaults(faults - first_faults, kernel_s - first_kernel_s, time.perf_counter() - started,
                          user_s - first_user_s)
