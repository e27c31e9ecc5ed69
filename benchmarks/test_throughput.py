"""How many images per second does each loader x cache mode x placement deliver? (one round = one epoch)

Confounders, and why they are accepted:
* ``cold`` evicts the dataset from the page cache before each round, but the storage below (a VM disk, a
  network volume) has caches of its own; ``page_cache`` in ``extra_info`` records what eviction achieved.
* with ``--benchmark-disable`` the cases still run once each, so the suite doubles as a smoke test.
"""

from __future__ import annotations

import pytest

from pipelines.cases import EPOCHS, THROUGHPUT_CASES, Case, case_id
from pipelines.config import BenchSettings
from pipelines.datasets import DatasetIndex
from pipelines.harness import images_per_sec, time_epochs
from pipelines.loaders import open_pipeline
from pipelines.machine import machine_info
from pipelines.measure import DecodeLimit, run_epoch
from pipelines.report.extra_info import case_info, dataset_info, memory_info

PARAMS = [
    pytest.param(case, epoch, id=case_id(case, epoch))
    for case in THROUGHPUT_CASES
    for epoch in EPOCHS
]


@pytest.fixture(scope="session")
def decode_reference(dataset_index: DatasetIndex, bench_settings: BenchSettings) -> DecodeLimit:
    return DecodeLimit(dataset_index, bench_settings.contract)


@pytest.fixture(scope="session")
def decode_limit(decode_reference: DecodeLimit) -> float:
    """The machine's decode + resize limit in images/s, measured once per session (fastest of 5 passes)."""
    return decode_reference.images_per_sec()


def test_decode_limit(benchmark, dataset_index: DatasetIndex, bench_settings: BenchSettings,
                      decode_reference: DecodeLimit, decode_limit: float):
    """Reference case: read + decode + resize on every core, nothing else (files in the page cache)."""
    benchmark.group = f"throughput {dataset_index.name}"
    seen = benchmark.pedantic(decode_reference.run, rounds=bench_settings.rounds)
    benchmark.extra_info.update(
        loader="decode-limit", cache="none", placement="uint8", epoch="warm",
        images=seen, images_per_sec=round(decode_limit, 2), decode_limit_images_per_sec=round(decode_limit, 2),
        decode_limit_pct=100.0, **dataset_info(dataset_index), **machine_info(),
    )
    assert seen == dataset_index.images


@pytest.mark.parametrize(("case", "epoch"), PARAMS)
def test_throughput(benchmark, case: Case, epoch: str, dataset_index: DatasetIndex,
                    bench_settings: BenchSettings, decode_limit: float):
    contract = case.contract(bench_settings.contract)
    reason = case.skip_reason(bench_settings.contract)
    if reason:
        pytest.skip(reason)
    benchmark.group = f"throughput {dataset_index.name}"

    timed = time_epochs(
        benchmark,
        lambda: open_pipeline(case.loader, dataset_index, contract),
        run_epoch,
        epoch,
        bench_settings.rounds,
    )

    assert timed.images == dataset_index.images, "a round must see every image exactly once"
    rate = images_per_sec(benchmark, timed)
    benchmark.extra_info.update(
        case_info(case, epoch, timed, rate, decode_limit),
        **memory_info(case, timed, dataset_index, contract),
        **dataset_info(dataset_index),
        **machine_info(),
    )
