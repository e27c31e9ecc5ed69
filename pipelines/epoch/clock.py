"""The benchmark clock: ``time.perf_counter`` that stops while the harness does work a case does not name.

pytest-benchmark times whatever happens between two readings of its timer. A round of this suite is one or
more whole epochs, and between them sits work that is not an epoch: opening a fresh pipeline and evicting the
dataset from the page cache (cold rounds), evicting a file cache (warm file rounds), destroying an exhausted
tf.data iterator (which can wait for the autotuner's next wake-up), and ``model.fit``'s set-up and tear-down
(seconds in some calls).
Running that work inside :func:`paused` keeps it out of the stored time without leaving pytest-benchmark:
the suite passes ``--benchmark-timer=pipelines.epoch.clock.now`` (``pyproject.toml``), so rounds, iterations,
storage and ``--benchmark-compare`` all stay pytest-benchmark's own.

Pauses nest, and they cost what two ``perf_counter`` calls cost. Outside a pause the clock is
``perf_counter`` minus the paused time so far: a monotonic clock with the same resolution.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

_lock = threading.Lock()
_paused_total = 0.0
_paused_since: float | None = None
_depth = 0

#: What ``--benchmark-timer`` must name for pauses to be honoured (checked by the benchmarks' conftest).
TIMER_NAME = "pipelines.epoch.clock.now"


def now() -> float:
    """Seconds of unpaused time (monotonic); frozen while paused."""
    with _lock:
        current = _paused_since if _paused_since is not None else time.perf_counter()
        return current - _paused_total


def pause() -> None:
    """Stop the clock (nested pauses need as many :func:`resume` calls)."""
    global _paused_since, _depth
    with _lock:
        if _depth == 0:
            _paused_since = time.perf_counter()
        _depth += 1


def resume() -> None:
    """Restart the clock after :func:`pause`."""
    global _paused_since, _paused_total, _depth
    with _lock:
        if _depth == 0:
            raise RuntimeError("clock.resume() without a matching pause()")
        _depth -= 1
        if _depth == 0:
            _paused_total += time.perf_counter() - _paused_since
            _paused_since = None


def is_paused() -> bool:
    with _lock:
        return _depth > 0


@contextmanager
def paused() -> Iterator[None]:
    """Run the block off the clock."""
    pause()
    try:
        yield
    finally:
        resume()
