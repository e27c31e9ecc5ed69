"""A benchmark session stopped part-way (Ctrl-C, ``kill``, a CI job cancelled) keeps the cases it finished.

pytest-benchmark registers a case's statistics when its rounds start. A case interrupted in its rounds is left
with no round at all, or some rounds and no record, and pytest-benchmark's JSON writer then fails on the empty
one (``min() arg is an empty sequence``): no JSON is written, and every finished case is lost with it. So, before
it writes, ``benchmarks/conftest.py``'s plugin drops the cases that did not finish (:func:`drop_unfinished`); and
during the session SIGTERM interrupts the run as Ctrl-C does (:func:`raise_interrupt`: ``KeyboardInterrupt``,
pytest's exit status 2), instead of killing it before anything is written. Nothing here imports pytest.
"""

from __future__ import annotations

import signal
from typing import Any


def finished(benchmark: Any) -> bool:
    """Whether a pytest-benchmark case ran to its end: it has rounds, and the record every loaderbench case
    writes after its last round (``extra_info``)."""
    return bool(benchmark) and bool(benchmark.extra_info)


def drop_unfinished(benchmarks: list[Any]) -> list[str]:
    """Remove, in place, the cases of ``benchmarks`` that did not finish (:func:`finished`); their names."""
    dropped = [benchmark.name for benchmark in benchmarks if not finished(benchmark)]
    benchmarks[:] = [benchmark for benchmark in benchmarks if finished(benchmark)]
    return dropped


def raise_interrupt(signum: int, frame: object) -> None:
    """A signal handler: the signal stops the run as Ctrl-C does."""
    raise KeyboardInterrupt(f"stopped by signal {signal.Signals(signum).name}")
