"""A benchmark session stopped part-way (Ctrl-C, ``kill``, a CI job cancelled) keeps the cases it finished.

pytest-benchmark registers a case's statistics when its rounds start. A case interrupted in its rounds is left
with no round at all, or some rounds and no record, and pytest-benchmark's JSON writer then fails on the empty
one (``min() arg is an empty sequence``): no JSON is written, and every finished case is lost with it. So, before
it writes, :class:`FinishedCasesOnly` drops the cases that did not finish; and during the session SIGTERM
interrupts the run as Ctrl-C does (``KeyboardInterrupt``: pytest's exit status 2), instead of killing it before
anything is written.
"""

from __future__ import annotations

import signal
import sys
from collections.abc import Generator
from typing import Any

import pytest


def finished(benchmark: Any) -> bool:
    """Whether a pytest-benchmark case ran to its end: it has rounds, and the record every loaderbench case
    writes after its last round (``extra_info``)."""
    return bool(benchmark) and bool(benchmark.extra_info)


def drop_unfinished(benchmarks: list[Any]) -> list[str]:
    """Remove, in place, the cases of ``benchmarks`` that did not finish (:func:`finished`); their names."""
    dropped = [benchmark.name for benchmark in benchmarks if not finished(benchmark)]
    benchmarks[:] = [benchmark for benchmark in benchmarks if finished(benchmark)]
    return dropped


def _raise_interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt(f"stopped by signal {signal.Signals(signum).name}")


class FinishedCasesOnly:
    """A pytest plugin (registered by ``benchmarks/conftest.py``): SIGTERM raises ``KeyboardInterrupt`` during
    the session, and only finished cases reach pytest-benchmark's JSON and tables."""

    def __init__(self) -> None:
        self.previous: Any = None

    def pytest_sessionstart(self, session: pytest.Session) -> None:
        if signal.getsignal(signal.SIGTERM) is signal.SIG_DFL:  # someone else's handler is left alone
            self.previous = signal.signal(signal.SIGTERM, _raise_interrupt)

    def pytest_unconfigure(self, config: pytest.Config) -> None:
        if self.previous is not None:
            signal.signal(signal.SIGTERM, self.previous)
            self.previous = None

    @pytest.hookimpl(wrapper=True, tryfirst=True)  # around pytest-benchmark's, which writes the JSON before it yields
    def pytest_sessionfinish(self, session: pytest.Session) -> Generator[None, Any, Any]:
        benchmark_session = getattr(session.config, "_benchmarksession", None)
        if benchmark_session is not None:
            dropped = drop_unfinished(benchmark_session.benchmarks)
            if dropped:
                print("loaderbench: left out of the results, not finished (interrupted or failed): "
                      + ", ".join(dropped), file=sys.stderr)
        return (yield)
