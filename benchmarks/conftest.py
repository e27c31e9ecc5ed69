"""Benchmark-only plumbing: gather each case's ``extra_info`` and print the summary table at the end."""

from __future__ import annotations

import pytest

from pipelines.report.summary import format_summary

RESULTS = pytest.StashKey[list]()


@pytest.fixture(autouse=True)
def _collect_extra_info(request: pytest.FixtureRequest):
    yield
    benchmark = request.node.funcargs.get("benchmark")
    if benchmark is not None and benchmark.extra_info:
        request.config.stash.setdefault(RESULTS, []).append(dict(benchmark.extra_info))


def pytest_terminal_summary(terminalreporter, config: pytest.Config) -> None:
    results = config.stash.get(RESULTS, [])
    if results:
        terminalreporter.write_sep("=", "loaderbench summary")
        terminalreporter.write_line(format_summary(results))
