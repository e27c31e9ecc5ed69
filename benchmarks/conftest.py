"""Benchmark-only plumbing: skip in-memory cache cases that would not fit in RAM, before they run; gather each
case's ``extra_info`` and print the summary table at the end."""

from __future__ import annotations

import pytest

from pipelines.cases import record_case
from pipelines.config import settings_from_options
from pipelines.datasets import DatasetError, count_images
from pipelines.memory import available_ram, exceeds_budget, predict_cache
from pipelines.report.summary import format_summary

RESULTS = pytest.StashKey[list]()


@pytest.hookimpl(tryfirst=True)  # before `-m` deselects, so `-m "not exceeds_ram"` sees the marker
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    memory_cases = [(item, item.callspec.params["case"]) for item in items
                    if hasattr(item, "callspec") and getattr(item.callspec.params.get("case"), "cache", "") == "memory"]
    if not memory_cases:
        return
    try:
        settings = settings_from_options(config.getoption)
        images = count_images(settings.dataset, settings.preset, settings.images)
    except (ValueError, DatasetError):
        return  # the session fixtures report a bad option or dataset with its own message
    budget = settings.ram_budget or available_ram()
    for item, case in memory_cases:
        if case.skip_reason(settings.contract):
            continue  # not buildable at all (ImageDataGenerator): skipped for that reason instead
        reason = exceeds_budget(predict_cache(images, case.contract(settings.contract)), budget)
        if reason:
            item.add_marker(pytest.mark.exceeds_ram)
            item.add_marker(pytest.mark.skip(reason=reason))


@pytest.fixture()
def warm_throughput(request: pytest.FixtureRequest) -> dict[str, float]:
    """Warm images/s per case id (``tfdata-file-uint8``) from the throughput cases run so far this session."""
    return {record_case(r): r["images_per_sec"] for r in request.config.stash.get(RESULTS, [])
            if r.get("epoch") == "warm" and "epoch_s" not in r and r.get("loader") != "decode-limit"}


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
