"""How many images per second does each loader x cache mode x placement deliver? (a round = whole epochs)

Confounders, and why they are accepted:
* ``cold`` evicts the dataset from the page cache before each epoch, but the storage below (a VM disk, a
  network volume) has caches of its own; ``page_cache`` in ``extra_info`` records what eviction achieved.
* warm file-cache epochs read the cache files after flushing and evicting them (``cache_resident``); on a
  RAM-backed file system (``cache_filesystem: tmpfs``) that cannot work, and the summary says so.
* with ``--benchmark-disable`` the cases still run once each, so the suite doubles as a smoke test.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from .conftest import fail_if_incomplete, reference_rate
from pipelines.harness.cases import EPOCH_KINDS, THROUGHPUT_CASES, Case, case_id
from pipelines.harness.settings import BenchSettings
from pipelines.datasets import DatasetIndex
from pipelines.harness.cold_warm import sources_written_ahead, time_epochs
from pipelines.harness.rounds import time_rounds
from pipelines.loaders import open_pipeline
from pipelines.loaders.compare import PixelDifference, pixel_difference
from pipelines.loaders.registry import LOADER_SPECS
from pipelines.machine import machine_info
from pipelines.epoch.run import DecodeLimit, Rate, run_epoch
from pipelines.machine import available_cores
from pipelines.epoch.reference import CpuProbe
from pipelines.harness.records import case_info, contract_info, dataset_info, memory_info, reference_info

PARAMS = [
    pytest.param(case, epoch, id=case_id(case, epoch))
    for case in THROUGHPUT_CASES
    for epoch in EPOCH_KINDS
]


@pytest.fixture(scope="session")
def all_cores_decode(dataset_index: DatasetIndex, bench_settings: BenchSettings) -> DecodeLimit:
    return DecodeLimit(dataset_index, bench_settings.contract)


@pytest.fixture(scope="session")
def one_core_decode(dataset_index: DatasetIndex, bench_settings: BenchSettings) -> DecodeLimit:
    return DecodeLimit(dataset_index, bench_settings.contract, threads=1)


@pytest.fixture(scope="session")
def limits(references: dict[str, Rate], all_cores_decode: DecodeLimit, one_core_decode: DecodeLimit,
           bench_settings: BenchSettings) -> dict[str, Rate]:
    """The tf.data decode limit (all cores) and the machine's (one thread x cores), as measured this session."""
    plan = bench_settings.throughput_plan
    decode = reference_rate(references, "decode-limit", all_cores_decode.epoch, plan)
    one_thread = reference_rate(references, "machine-limit", one_core_decode.epoch, plan)
    return {"decode-limit": decode, "machine-limit": one_thread.times(available_cores())}


@pytest.mark.parametrize("name", ["decode-limit", "machine-limit"])
def test_reference(benchmark, name: str, references: dict[str, Rate], all_cores_decode: DecodeLimit,
                   one_core_decode: DecodeLimit, dataset_index: DatasetIndex, bench_settings: BenchSettings):
    """Reference cases: read + decode + resize and nothing else, files in the page cache. ``decode-limit``:
    tf.data's parallel map on every core; ``machine-limit``: one thread, its time per epoch divided by the
    cores (what every core decoding independently would reach)."""
    benchmark.group = f"throughput {dataset_index.name}"
    reference = all_cores_decode if name == "decode-limit" else one_core_decode
    timed = time_rounds(benchmark, reference.epoch, bench_settings.throughput_plan)
    assert timed.images == dataset_index.images
    references[name] = Rate.of(timed)
    cores = 1 if name == "decode-limit" else available_cores()
    benchmark.extra_info.update(reference_info(name, timed, cores), **dataset_info(dataset_index),
                                **contract_info(bench_settings.contract), **machine_info())


@pytest.fixture(scope="session")
def fast_decode_difference(dataset_index: DatasetIndex, bench_settings: BenchSettings) -> PixelDifference:
    """How far the fast decode's pixels are from the exact decode's, on this dataset."""
    return pixel_difference(dataset_index, bench_settings.contract)


@pytest.fixture(scope="session")
def paired_probe(dataset_index: DatasetIndex, bench_settings: BenchSettings) -> Iterator[CpuProbe | None]:
    """The reference timed after every round with ``--paired-reference`` (else none)."""
    if not bench_settings.paired_reference:
        yield None
        return
    probe = CpuProbe(dataset_index, bench_settings.contract)
    yield probe
    probe.close()


@pytest.mark.parametrize(("case", "epoch"), PARAMS)
def test_throughput(request: pytest.FixtureRequest, benchmark, case: Case, epoch: str, dataset_index: DatasetIndex,
                    bench_settings: BenchSettings, limits: dict[str, Rate], paired_probe: CpuProbe | None):
    base = bench_settings.contract
    if case.on_service:  # started (or checked) on first use: a run without service cases starts nothing
        hosts = LOADER_SPECS[case.loader].emulated_hosts
        base = base.with_(service_address=request.getfixturevalue("emulated_service" if hosts else "data_service"))
    contract = case.contract(base)
    reason = case.skip_reason(base)
    if reason:
        pytest.skip(reason)
    benchmark.group = f"throughput {dataset_index.name}"

    timed = time_epochs(
        benchmark,
        lambda: open_pipeline(case.loader, dataset_index, contract),
        run_epoch,
        epoch,
        bench_settings.throughput_plan,
        paired=paired_probe.epoch if paired_probe else None,
        written_ahead=sources_written_ahead(contract, dataset_index),
    )

    fail_if_incomplete(benchmark, case, epoch, timed, dataset_index, **contract_info(contract), **machine_info())
    benchmark.extra_info.update(
        case_info(case, epoch, timed, limits),
        **memory_info(case, timed, dataset_index, contract),
        **dataset_info(dataset_index),
        **contract_info(contract),
        **machine_info(),
    )
    if LOADER_SPECS[case.loader].augmented:
        benchmark.extra_info.update(augmented=True)
    if LOADER_SPECS[case.loader].approximate_decode:
        difference = request.getfixturevalue("fast_decode_difference")
        benchmark.extra_info.update(pixel_diff_mean=round(difference.mean, 3), pixel_diff_max=difference.max,
                                    pixel_diff_images=difference.images)
