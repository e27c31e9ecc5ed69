"""Tear-downs that only wait, moved off the benchmark's path: a background thread lets go of spent iterators.

In TensorFlow 2.21 destroying a tf.data iterator whose pipeline is autotuned blocks until the autotuner's
next wake-up, which comes at doubling intervals: up to about the epoch's own length (``model.fit`` destroys
its iterator before it returns, so every ``fit`` call paid it). The wait holds neither a core nor the GIL, so it
need not hold up the run: :func:`release_later` hands the last reference to a daemon thread that drops it there,
while the main thread goes on with the next epoch. Nothing is skipped -- the iterator is still destroyed, only
not on the main thread's time.

:func:`drain` waits for every handed-over tear-down: before a cache's filling epoch is measured (no earlier
pipeline's memory is freed inside the measurement), and -- through :func:`drain_if_ram_is_short` -- before a
memory-cache pipeline is replaced while less than half the RAM is available, so that two memory caches
never compete for RAM that is short.
"""

from __future__ import annotations

import queue
import threading
from typing import Any

import psutil

_PENDING: queue.Queue = queue.Queue()
_STARTED = threading.Lock()
#: Held while a reference is handed over, so the thread never drops an object before the caller's last
#: temporary reference to it is gone (the drop would then happen on the caller's thread after all).
_HANDOVER = threading.Lock()
_thread: threading.Thread | None = None


def _reap() -> None:
    while True:
        spent = [_PENDING.get()]
        with _HANDOVER:  # the caller's hand-over is complete: this is now the last reference
            pass
        spent.clear()  # the iterator's tear-down runs (and waits) here
        _PENDING.task_done()


def release_later(box: list[Any]) -> None:
    """Destroy the objects in ``box`` on the tear-down thread, emptying it.

    A box rather than the object: the caller gives up its reference by putting it in the box (a plain
    argument would stay alive in the caller's frame, and the thread could drop its own reference first, leaving
    the tear-down to the caller after all).
    """
    global _thread
    with _STARTED:
        if _thread is None:
            _thread = threading.Thread(target=_reap, name="loaderbench-teardown", daemon=True)
            _thread.start()
    with _HANDOVER:
        while box:
            _PENDING.put(box.pop())


def drain() -> None:
    """Wait until every object handed to :func:`release_later` has been destroyed."""
    _PENDING.join()


def drain_if_ram_is_short(room: tuple[int, int] | None, share: float = 0.5) -> None:
    """:func:`drain` when less than ``share`` of the machine's RAM is available -- or of the ``--ram-limit`` this
    process runs under, ``room`` (``(available, limit)`` bytes, :func:`pipelines.limits.cgroup.memory_room`, read by
    the caller: the limits are a floor above this one; ``None``: no limit): a spent pipeline's memory cache freed a
    second late costs nothing while RAM is plentiful, and is waited for when it is not."""
    memory = psutil.virtual_memory()
    available, total = room or (memory.available, memory.total)
    if available < share * total:
        drain()
