"""Benchmark-only plumbing: skip cache cases that would not fit in RAM or on disk, before they run; keep the
reference figures (decode and machine limits, the model alone) for the cases that need them; gather each
case's ``extra_info`` and print the summary table at the end."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from pipelines import clock
from pipelines.cases import Case
from pipelines.config import CACHE_SPECS, RoundPlan, settings_from_options
from pipelines.datasets import DatasetError, count_images
from pipelines.harness import OffRecordBenchmark, time_rounds
from pipelines.measure import EpochRun, Rate
from pipelines.memory import available_ram, exceeds_budget, exceeds_disk, free_disk, predict_cache
from pipelines.report.summary import format_summary

RESULTS = pytest.StashKey[list]()


def pytest_configure(config: pytest.Config) -> None:
    timer = str(config.getoption("benchmark_timer", default=""))
    if clock.TIMER_NAME not in timer:
        raise pytest.UsageError(
            f"--benchmark-timer must be {clock.TIMER_NAME} (set in pyproject.toml), got {timer}: the harness pauses "
            "that clock around work that is not an epoch (pipeline set-up, eviction, model.fit's tear-down)"
        )


@pytest.hookimpl(tryfirst=True)  # before `-m` deselects, so `-m "not exceeds_ram"` sees the markers
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    cached = [(item, item.callspec.params["case"]) for item in items
              if hasattr(item, "callspec") and isinstance(item.callspec.params.get("case"), Case)
              and CACHE_SPECS[item.callspec.params["case"].cache].caches]
    if not cached:
        return
    try:
        settings = settings_from_options(config.getoption)
        images = count_images(settings.dataset, settings.preset, settings.images)
    except (ValueError, DatasetError):
        return  # the session fixtures report a bad option or dataset with its own message
    budget = settings.ram_budget or available_ram()
    cache_dir = settings.contract.cache_dir
    free = free_disk(cache_dir)
    for item, case in cached:
        if case.skip_reason(settings.contract):
            continue  # not buildable at all (ImageDataGenerator): skipped for that reason instead
        prediction = predict_cache(images, case.contract(settings.contract))
        for marker, reason in (("exceeds_ram", exceeds_budget(prediction, budget)),
                               ("exceeds_disk", exceeds_disk(prediction, free, cache_dir))):
            if reason:
                item.add_marker(getattr(pytest.mark, marker))
                item.add_marker(pytest.mark.skip(reason=reason))


@pytest.fixture(scope="session")
def references() -> dict[str, Rate]:
    """Reference figures by name (``decode-limit``, ``machine-limit``, ``model-only``), as their cases ran."""
    return {}


def reference_rate(references: dict[str, Rate], name: str, one_epoch: Callable[[], EpochRun], plan: RoundPlan,
                   expected_epoch_s: float | None = None) -> Rate:
    """The reference ``name`` as its own case measured it, or measured now off the record (same clock, rounds
    and statistic) when that case was deselected."""
    if name not in references:
        timed = time_rounds(OffRecordBenchmark(), one_epoch, plan, expected_epoch_s)
        references[name] = Rate.of(timed)
    return references[name]


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
