"""Benchmark-only plumbing: skip cache cases that would not fit in RAM or on disk, before they run; keep the
reference figures (decode and machine limits, the model alone) for the cases that need them; gather each
case's ``extra_info`` and print the summary table at the end."""

from __future__ import annotations

import signal
import sys
import time
from collections.abc import Callable, Generator, Iterator
from dataclasses import asdict
from typing import Any

import psutil
import pytest

from pipelines.epoch import clock
from pipelines.harness.cases import Case
from pipelines.caches.folders import disk_full, disk_full_line
from pipelines.caches.modes import CACHE_SPECS
from pipelines.gate.settings import GateRun, GateSettings
from pipelines.harness.plan import RoundPlan
from pipelines.harness.settings import BenchSettings, settings_from_options
from pipelines.datasets import DatasetError, DatasetIndex, count_images
from pipelines.gate.judge import compare_runs, format_result
from pipelines.gate.runs import (GateError, RunRounds, load_run, planned_mismatch, refuse_other_work,
                                 rounds_from_records, workload_of)
from pipelines.harness.complete import SAVED_UNDER, drop_incomplete, incomplete_line
from pipelines.harness.interrupt import drop_unfinished, raise_interrupt
from pipelines.harness.records import incomplete_case_info, planned_info
from pipelines.options import settings_from
from pipelines.harness.rounds import OffRecordBenchmark, TimedEpochs, time_rounds
from pipelines.epoch.run import EpochRun, Rate
from pipelines.memory import available_ram, exceeds_budget, exceeds_disk, free_disk, predict_cache
from pipelines.report.summary import format_summary
from pipelines.dataservice import LocalService, ServiceError, check_service, default_workers
from pipelines.datasets.presets import default_data_root
from pipelines.limits.cgroup import CgroupUnavailable
from pipelines.limits.session import LimitedRun
from pipelines.loaders.conformance import check_loader
from pipelines.loaders.registry import OWN_LOADERS

RESULTS = pytest.StashKey[list]()
GATE_REPORT = pytest.StashKey[str]()
WALL_S = pytest.StashKey[float]()
LIMITED = pytest.StashKey[LimitedRun]()
BASELINE = pytest.StashKey[tuple[RunRounds, GateSettings]]()
CHECKED = pytest.StashKey[dict[str, str | None]]()  # a declared loader's case id: what breaks the contract
SETTINGS = pytest.StashKey[BenchSettings]()  # read from the options once, at configure (_check_options)
INCOMPLETE = pytest.StashKey[list]()  # the entries of the cases left out as incomplete, for the JSON


def pytest_configure(config: pytest.Config) -> None:
    timer = str(config.getoption("benchmark_timer", default=""))
    if clock.TIMER_NAME not in timer:
        raise pytest.UsageError(
            f"--benchmark-timer must be {clock.TIMER_NAME} (set in pyproject.toml), got {timer}: the harness pauses "
            "that clock around work that is not an epoch (pipeline set-up, eviction, model.fit's tear-down)"
        )
    report = config.getoption("benchmark_json", default=None)
    if report is not None:
        report.parent.mkdir(parents=True, exist_ok=True)  # .benchmarks/gate/ on a fresh clone
    if not config.getoption("help", default=False):
        settings = _check_options(config)
        _load_baseline(config, settings)
        _enter_limits(config, settings)
        config.pluginmanager.register(FinishedCasesOnly(), "loaderbench-finished-cases-only")


def _load_baseline(config: pytest.Config, settings: BenchSettings) -> None:
    """``--gate-baseline``: read and check the baseline now, before anything is collected or measured -- a
    missing file, one that is not a benchmark run or has no case, or a baseline of another dataset or contract
    than this run's options make stops the run with one line (exit 4) -- and keep it for the judging at the end
    (which checks what only measuring tells: the dataset's bytes, the cases run), with the gate's settings."""
    try:
        gate = settings_from(GateRun, config.getoption)
    except ValueError as error:
        pytest.exit(f"options: {error}", returncode=4)
    if gate.gate_baseline is None:
        return
    planned = planned_info(settings.dataset, settings.preset, settings.images, settings.seed, settings.contract)
    try:
        baseline = load_run(gate.gate_baseline)
        differences = planned_mismatch(baseline, workload_of(planned))
        if differences:
            raise refuse_other_work(baseline, differences)
    except GateError as error:
        pytest.exit(f"--gate-baseline: {error}", returncode=4)
    config.stash[BASELINE] = baseline, gate.gate


def _enter_limits(config: pytest.Config, settings: BenchSettings) -> None:
    """``--ram-limit`` / ``--read-bandwidth``: this session moves into a cgroup enforcing them, before anything is
    collected or imported that the limit should hold; one that cannot be made stops the run with the reason."""
    if not settings.limits.any:
        return
    try:
        config.stash[LIMITED] = LimitedRun(settings.limits, (settings.dataset or settings.data_root
                                                             or default_data_root(), settings.contract.cache_dir))
    except CgroupUnavailable as error:
        pytest.exit(f"--ram-limit / --read-bandwidth: {error}", returncode=4)


def pytest_unconfigure(config: pytest.Config) -> None:
    if LIMITED in config.stash:
        config.stash[LIMITED].close()


def pytest_report_header(config: pytest.Config) -> str | None:
    return f"loaderbench: {config.stash[LIMITED].settings.line()}" if LIMITED in config.stash else None


def _check_options(config: pytest.Config) -> BenchSettings:
    """Every loaderbench option and combination, checked before anything is collected or measured: a bad value,
    a combination that would do nothing (:class:`~pipelines.harness.settings.BenchSettings` says which), or a
    ``--data-service`` that does not answer stops the run now, with one line naming the option (exit 4), not
    minutes in when the first case that reads it runs. Returns the settings, kept for the hooks after it."""
    try:
        settings = config.stash[SETTINGS] = settings_from_options(config.getoption)
    except ValueError as error:
        pytest.exit(f"options: {error}", returncode=4)
    if settings.data_service:
        try:
            check_service(settings.data_service)
        except ServiceError as error:
            pytest.exit(f"--data-service: {error}", returncode=4)
    return settings


def _case_of(item: pytest.Item) -> Case | None:
    case = item.callspec.params.get("case") if hasattr(item, "callspec") else None
    return case if isinstance(case, Case) else None


def _keep_extended_apart(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark the extended group's cases (``-m extended`` selects them) and leave them out unless ``--extended``."""
    left_out = []
    for item in items:
        case = _case_of(item)
        if case is not None and case.extended:
            item.add_marker(pytest.mark.extended)
            if not config.getoption("extended"):
                left_out.append(item)
    if left_out:
        config.hook.pytest_deselected(items=left_out)
        items[:] = [item for item in items if item not in left_out]


@pytest.hookimpl(tryfirst=True)  # before `-m` deselects, so `-m "not exceeds_ram"` sees the markers
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    _keep_extended_apart(config, items)
    cached = [(item, case) for item, case in ((item, _case_of(item)) for item in items)
              if case is not None and CACHE_SPECS[case.cache].caches]
    if not cached:
        return
    settings = config.stash[SETTINGS]  # checked at configure
    try:
        images = count_images(settings.dataset, settings.preset, settings.images)
    except (ValueError, DatasetError):
        return  # the session fixtures report a bad dataset with its own message
    budget = settings.ram_budget or available_ram()
    if LIMITED in config.stash:
        budget = config.stash[LIMITED].budget(budget)
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
                run_anyway = marker == "exceeds_ram" and settings.limits.run_exceeding
                item.add_marker(pytest.mark.run_exceeding(reason) if run_anyway else pytest.mark.skip(reason=reason))


@pytest.fixture(autouse=True)
def _disk_room_now(request: pytest.FixtureRequest) -> None:
    """A file-cache case checks the free disk again as it starts: the check at collection saw the disk as it
    was then, before earlier cases -- or another job on a shared disk -- took it. One that no longer fits is
    skipped with the reason (``exceeds_disk``), instead of failing when the disk fills under it."""
    case = _case_of(request.node)
    if case is None or not CACHE_SPECS[case.cache].on_disk or request.node.get_closest_marker("exceeds_disk"):
        return
    settings = request.getfixturevalue("bench_settings")
    if case.skip_reason(settings.contract):
        return  # not buildable at all (ImageDataGenerator): skipped for that reason instead
    cache_dir = settings.contract.cache_dir
    prediction = predict_cache(request.getfixturevalue("dataset_index").images, case.contract(settings.contract))
    reason = exceeds_disk(prediction, free_disk(cache_dir), cache_dir)
    if reason:
        pytest.skip(f"{reason} (checked again as the case started)")


@pytest.hookimpl(wrapper=True)
def pytest_pyfunc_call(pyfuncitem: pytest.Function):
    """A file-cache case during which the disk filled up fails with one line saying where, how much is free
    and what to do (:func:`~pipelines.caches.folders.disk_full_line`), not with TensorFlow's error about the
    cache's temporary file."""
    try:
        return (yield)
    except Exception as error:
        case = _case_of(pyfuncitem)
        if case is None or not CACHE_SPECS[case.cache].on_disk or not disk_full(error):
            raise
        cache_dir = pyfuncitem.config.stash[SETTINGS].contract.cache_dir
        raise pytest.fail.Exception(disk_full_line(cache_dir, free_disk(cache_dir)), pytrace=False) from None


@pytest.hookimpl(wrapper=True, tryfirst=True)  # outside pytest-benchmark's, which sets `skipped` after its yield
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    """A case that failed before it used its ``benchmark`` fixture is one failure: pytest-benchmark would add a
    second, an error at tear-down for the unused fixture (its warning, made an error by ``filterwarnings``)."""
    report = yield
    benchmark = (getattr(item, "funcargs", None) or {}).get("benchmark")
    if benchmark is not None and report.when == "call" and report.failed:
        benchmark.skipped = True  # what pytest-benchmark reads to leave an unused fixture unremarked
    return report


@pytest.fixture(autouse=True)
def _own_loader_keeps_the_contract(request: pytest.FixtureRequest) -> None:
    """A loader declared outside this package is checked against the contract once a case, before anything is
    timed (:mod:`pipelines.loaders.conformance`): a broken one fails its cases with the one line saying what was
    wrong, and every other case runs. Ours are held to it by the tests."""
    case = _case_of(request.node)
    if case is None or case.loader not in OWN_LOADERS:
        return
    contract = request.getfixturevalue("bench_settings").contract
    if case.skip_reason(contract):
        return  # skipped for that reason instead
    checked = request.config.stash.setdefault(CHECKED, {})
    if case.id not in checked:
        checked[case.id] = check_loader(case.loader, request.getfixturevalue("dataset_index"), case.contract(contract))
    if checked[case.id]:
        pytest.fail(checked[case.id], pytrace=False)


@pytest.fixture(autouse=True)
def _run_exceeding(request: pytest.FixtureRequest) -> None:
    """``--run-exceeding``: a memory cache predicted not to fit the limit is filled anyway, in a child under it,
    once a session; the case is then skipped with what happened beside what was predicted (its epochs are not
    the harness's rounds, so they are not reported as a benchmark)."""
    marker = request.node.get_closest_marker("run_exceeding")
    case = _case_of(request.node)
    if marker is None or case is None:
        return
    settings = request.getfixturevalue("bench_settings")
    index = request.getfixturevalue("dataset_index")
    outcome = request.config.stash[LIMITED].run_exceeding(case.loader, case.cache, case.placement, index.root,
                                                          settings.contract, index.images)
    pytest.skip(f"{marker.args[0]}; run anyway under --ram-limit: {outcome.line()}")


@pytest.fixture(scope="session")
def data_service(bench_settings) -> Iterator[str]:
    """The tf.data service address for the service cases: the one given (checked when the session started, and
    again now, so a dispatcher gone since stops the run with the reason instead of a hang), or a local dispatcher
    and workers started on first use and stopped at the session's end."""
    if bench_settings.data_service:
        try:
            check_service(bench_settings.data_service)
        except ServiceError as error:
            pytest.exit(f"--data-service: {error}", returncode=4)
        yield bench_settings.data_service
        return
    with LocalService(bench_settings.service_workers or default_workers()) as address:
        yield address


@pytest.fixture(scope="session")
def emulated_service() -> Iterator[str]:
    """A tf.data service on emulated hosts for the ``emulated_hosts`` loader's cases: a dispatcher and that many
    workers, each on a host of :data:`~pipelines.dataservice.cluster.CASE_WORKER_CPUS` cores, started on first
    use and removed at the session's end; its cases are skipped, with the one-line reason, where hosts cannot be
    emulated (no root, no namespaces)."""
    from pipelines.dataservice.cluster import CASE_WORKER_CPUS, EmulatedCluster
    from pipelines.dataservice.hosts import emulation_unavailable
    from pipelines.loaders.registry import LOADER_SPECS

    reason = emulation_unavailable()
    if reason:
        pytest.skip(reason)
    workers = max(spec.emulated_hosts for spec in LOADER_SPECS.values())
    with EmulatedCluster(workers, worker_cpus=CASE_WORKER_CPUS) as address:
        yield address


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


def fail_if_incomplete(benchmark: Any, case: Case, epoch: str, timed: TimedEpochs, index: DatasetIndex,
                       **info: Any) -> None:
    """A case with an epoch that saw another number of images than ``index`` holds (a fault lost elements, or its
    loader drops some) records that, with ``info`` and no rate
    (:func:`~pipelines.harness.records.incomplete_case_info`), and fails with one line; its times are left out of
    pytest-benchmark's JSON, tables and compare at the session's end (:class:`FinishedCasesOnly`)."""
    record = incomplete_case_info(case, epoch, timed, index)
    if record is not None:
        benchmark.extra_info.update(record, **info)
        pytest.fail(incomplete_line(benchmark.extra_info), pytrace=False)


@pytest.fixture(autouse=True)
def _collect_extra_info(request: pytest.FixtureRequest):
    yield
    benchmark = (request.node.funcargs or {}).get("benchmark")  # None: torn down after an interrupt
    if benchmark is not None and benchmark.extra_info:
        request.config.stash.setdefault(RESULTS, []).append(dict(benchmark.extra_info))


def _wall_s(config: pytest.Config) -> float:
    """Seconds from this process's start (imports included) to the end of the session's cases, read once: the
    JSON and the summary print the same figure."""
    if WALL_S not in config.stash:
        config.stash[WALL_S] = time.time() - psutil.Process().create_time()
    return config.stash[WALL_S]


def pytest_benchmark_update_json(config: pytest.Config, benchmarks: list, output_json: dict) -> None:
    """The run's wall time beside its cases, so a saved run says what it cost (``format_summary`` reads it), and
    the records of the cases left out as incomplete, apart from ``benchmarks`` where a reader would take their
    stats for a time (:mod:`pipelines.harness.complete`)."""
    output_json["loaderbench"] = {"wall_s": round(_wall_s(config), 1)}
    if config.stash.get(INCOMPLETE, None):
        section, key = SAVED_UNDER
        output_json.setdefault(section, {})[key] = config.stash[INCOMPLETE]
    if LIMITED in config.stash:
        limited = config.stash[LIMITED]
        output_json["loaderbench"]["limits"] = asdict(limited.settings)
        output_json["loaderbench"]["exceeding"] = [asdict(o) for o in limited.outcomes.values()]


@pytest.hookimpl(tryfirst=True)  # before pytest-benchmark's, which writes the JSON
def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """With ``--gate-baseline``: judge this session's cases against the baseline; a regression fails the run
    (exit 1), a comparison that cannot be made stops it (4), cases the gate could not judge because the machine
    was shared end it with :data:`~pipelines.gate.judge.INCONCLUSIVE_EXIT` -- never with a pass."""
    config = session.config
    _wall_s(config)
    if BASELINE not in config.stash or exitstatus not in (pytest.ExitCode.OK, pytest.ExitCode.TESTS_FAILED):
        return
    baseline, settings = config.stash[BASELINE]  # read and checked at start
    try:
        result = compare_runs(baseline, rounds_from_records(config.stash.get(RESULTS, []), "this run"), settings)
    except GateError as error:
        config.stash[GATE_REPORT] = f"gate: {error}"
        session.exitstatus = pytest.ExitCode.USAGE_ERROR
        return
    config.stash[GATE_REPORT] = format_result(result, settings, baseline.source)
    if result.exit_status:  # 1 (pytest's TESTS_FAILED) for a regression; a run it could not judge has its own
        session.exitstatus = result.exit_status


def pytest_terminal_summary(terminalreporter, config: pytest.Config) -> None:
    results = config.stash.get(RESULTS, [])
    if results:
        terminalreporter.write_sep("=", "loaderbench summary")
        terminalreporter.write_line(format_summary(results, _wall_s(config)))
    if GATE_REPORT in config.stash:
        terminalreporter.write_sep("=", "loaderbench gate")
        terminalreporter.write_line(config.stash[GATE_REPORT])


def pytest_benchmark_compare_machine_info(config: pytest.Config, benchmarksession, machine_info: dict,
                                          compared_benchmark: dict) -> None:
    """pytest-benchmark's own compare against a run from another machine: say what differs, plainly, once."""
    theirs = compared_benchmark.get("machine_info", {})
    differences = [f"{key}: {theirs.get(key)} -> {machine_info.get(key)}"
                   for key in ("node", "processor", "python_version", "machine")
                   if theirs.get(key) != machine_info.get(key)]
    cpu = (theirs.get("cpu", {}).get("brand_raw"), machine_info.get("cpu", {}).get("brand_raw"))
    if cpu[0] != cpu[1]:
        differences.append(f"cpu: {cpu[0]} -> {cpu[1]}")
    if differences:
        benchmarksession.logger.warning(
            "the compared baseline ran on another machine (" + "; ".join(differences) + "): its times may not "
            "apply here; the loaderbench gate (--gate-baseline) refuses such a baseline unless --gate-mismatch warn")


class FinishedCasesOnly:
    """A pytest plugin (registered by ``benchmarks/conftest.py``): SIGTERM raises ``KeyboardInterrupt`` during
    the session, and only finished, complete cases reach pytest-benchmark's JSON, tables and compare (an
    incomplete case's record is saved apart: :mod:`pipelines.harness.complete`)."""

    def __init__(self) -> None:
        self.previous: Any = None

    def pytest_sessionstart(self, session: pytest.Session) -> None:
        if signal.getsignal(signal.SIGTERM) is signal.SIG_DFL:  # someone else's handler is left alone
            self.previous = signal.signal(signal.SIGTERM, raise_interrupt)

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
            incomplete = drop_incomplete(benchmark_session.benchmarks)
            if incomplete:
                session.config.stash[INCOMPLETE] = incomplete
                print("loaderbench: left out of the results, an epoch lost images: "
                      + ", ".join(entry["name"] for entry in incomplete), file=sys.stderr)
        return (yield)
