"""What a loader's epochs hold in RAM outside a cache: this process's peak RSS and, for a loader that loads in
worker processes (Grain's ``mp_prefetch``, ImageDataGenerator's process pool), the peak of its workers' RSS
together -- a loader that looks lean in its parent can hold gigabytes in its children, and a user choosing
worker processes pays for both.

A daemon thread samples with psutil every :data:`SAMPLE_S` while an epoch runs (the children's RSS only where the
loader declares worker processes: listing them costs a scan of ``/proc``). RSS counts pages a forked or spawned
worker shares with others once in each, so the workers' sum is an upper bound of what they add.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

import psutil

#: Seconds between samples: often enough to see a peak that lasts a batch, rare enough to cost nothing.
SAMPLE_S = 0.1


@dataclass(frozen=True)
class EpochMemory:
    """Attributes: peak RSS of this process, and of its worker processes summed (``None``: not sampled)."""

    process_peak_bytes: int
    workers_peak_bytes: int | None = None


class MemorySampler:
    """``start()`` before an epoch, ``stop()`` after it: the :class:`EpochMemory` in between."""

    def __init__(self, workers: bool) -> None:
        self._workers = workers
        self._process = psutil.Process()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._peak = 0
        self._workers_peak = 0

    def _sample(self) -> None:
        try:
            self._peak = max(self._peak, self._process.memory_info().rss)
        except psutil.Error:
            return
        if not self._workers:
            return
        total = 0
        for child in self._process.children(recursive=True):
            try:
                total += child.memory_info().rss
            except psutil.Error:
                pass  # exited in between
        self._workers_peak = max(self._workers_peak, total)

    def _run(self) -> None:
        while not self._stop.wait(SAMPLE_S):
            self._sample()

    def start(self) -> None:
        self._sample()
        self._thread = threading.Thread(target=self._run, name="loaderbench-memory", daemon=True)
        self._thread.start()

    def stop(self) -> EpochMemory:
        if self._thread is None:
            raise RuntimeError("MemorySampler.stop() before start()")
        self._stop.set()
        self._thread.join()
        self._sample()
        return EpochMemory(self._peak, self._workers_peak if self._workers else None)
