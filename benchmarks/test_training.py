"""How long is a real MobileNet transfer-learning epoch with each loader x cache mode? (a round = whole epochs)

The model is built once per session and keeps training from case to case: weights change, the work per
epoch does not. Its train step is traced before any timing (see ``model_only``), so no case pays for it.
Only Keras' epochs are on the clock; ``model.fit``'s set-up and tear-down are reported apart.
"""

from __future__ import annotations

import time

import pytest

from .conftest import fail_if_incomplete, reference_rate
from pipelines.harness.cases import EPOCH_KINDS, TRAINING_CASES, Case, case_id
from pipelines.harness.settings import BenchSettings
from pipelines.datasets import DatasetIndex
from pipelines.harness.cold_warm import sources_written_ahead, time_epochs
from pipelines.harness.rounds import time_rounds
from pipelines.loaders import open_pipeline
from pipelines.loaders.registry import BASELINE_LOADER, base_loader
from pipelines.machine import machine_info
from pipelines.epoch.run import Rate, run_epoch
from pipelines.harness.records import (case_info, contract_info, dataset_info, memory_info, reference_info,
                                       training_info)
from pipelines.training import ModelOnly, ModelSpec, build_model, fit_epoch

PARAMS = [pytest.param(case, epoch, id=case_id(case, epoch)) for case in TRAINING_CASES for epoch in EPOCH_KINDS]


@pytest.fixture(scope="session")
def model(dataset_index: DatasetIndex, bench_settings: BenchSettings):
    spec = ModelSpec(len(dataset_index.class_names), bench_settings.alpha, bench_settings.weights,
                     bench_settings.accelerator)
    return build_model(spec, bench_settings.contract)


@pytest.fixture(scope="session")
def model_alone(model, dataset_index: DatasetIndex, bench_settings: BenchSettings) -> ModelOnly:
    return ModelOnly(model, bench_settings.contract, dataset_index.images, len(dataset_index.class_names))


@pytest.fixture(scope="session")
def model_only(references: dict[str, Rate], model_alone: ModelOnly, bench_settings: BenchSettings) -> Rate:
    """The model on in-memory tensors, the speed no loader can beat: median and spread of its rounds."""
    return reference_rate(references, "model-only", model_alone.epoch, bench_settings.training_plan)


@pytest.fixture(scope="session")
def idg_epochs() -> dict[str, Rate]:
    """ImageDataGenerator's faster variant's epochs per epoch kind, filled as its cases run (they run first)."""
    return {}


def test_model_only(benchmark, references: dict[str, Rate], model_alone: ModelOnly, dataset_index: DatasetIndex,
                    bench_settings: BenchSettings):
    """Reference case: the model's epochs on in-memory tensors."""
    benchmark.group = f"training {dataset_index.name}"
    timed = time_rounds(benchmark, model_alone.epoch, bench_settings.training_plan)
    assert timed.images == dataset_index.images
    references["model-only"] = Rate.of(timed)
    benchmark.extra_info.update(reference_info("model-only", timed), model=model_alone.model.name,
                                **dataset_info(dataset_index), **contract_info(bench_settings.contract),
                                **machine_info())


#: How old the model-only epoch a case's utilisation is read against may be. A shared VM's speed drifts by more
#: than a round's noise over minutes (docs/measurement.md); within a minute of a case, the reference sees the
#: same machine. On a slow dataset every case gets an epoch of its own; on a fast one, cases share.
REFERENCE_MAX_AGE_S = 60.0


@pytest.fixture(scope="session")
def adjacent() -> list[tuple[float, Rate]]:
    """The latest model-only epoch measured beside the cases: (when, its rate), at most one entry."""
    return []


def adjacent_reference(adjacent: list[tuple[float, Rate]], model_alone: ModelOnly, model_only: Rate) -> Rate:
    """The model alone, an epoch at most :data:`REFERENCE_MAX_AGE_S` old: what the case's utilisation is read
    against.

    The session's model-only rounds were measured minutes earlier; an epoch beside the case cancels the machine's
    drift since, and its noise is taken from the model-only rounds' spread. It runs after the case's rounds when
    the last one is too old, off the benchmark's clock (pytest-benchmark is not timing here).
    """
    if not adjacent or time.monotonic() - adjacent[0][0] > REFERENCE_MAX_AGE_S:
        epoch = model_alone.epoch()
        adjacent[:] = [(time.monotonic(), Rate(epoch.images / epoch.seconds, model_only.spread, epoch.seconds))]
    return adjacent[0][1]


@pytest.mark.parametrize(("case", "epoch"), PARAMS)
def test_training(benchmark, case: Case, epoch: str, model, model_alone: ModelOnly, model_only: Rate,
                  adjacent: list[tuple[float, Rate]], idg_epochs: dict[str, Rate], dataset_index: DatasetIndex,
                  bench_settings: BenchSettings):
    reason = case.skip_reason(bench_settings.contract)
    if reason:
        pytest.skip(reason)
    contract = case.contract(bench_settings.contract)
    benchmark.group = f"training {dataset_index.name}"

    timed = time_epochs(
        benchmark,
        lambda: open_pipeline(case.loader, dataset_index, contract),
        lambda pipeline: fit_epoch(model, pipeline),
        epoch,
        bench_settings.training_plan,
        fill=run_epoch,
        expected_epoch_s=model_only.epoch_s,  # no epoch beats the model alone: calibrate from it
        written_ahead=sources_written_ahead(contract, dataset_index),
        sample_memory=False,  # the throughput case of the same loader, cache and placement measures the fill
    )

    fail_if_incomplete(benchmark, case, epoch, timed, dataset_index, model=model.name, **contract_info(contract),
                       **machine_info())
    if base_loader(case.loader) == BASELINE_LOADER:  # threads or processes: the faster is the baseline
        rate = Rate.of(timed)
        if epoch not in idg_epochs or rate.epoch_s < idg_epochs[epoch].epoch_s:
            idg_epochs[epoch] = rate
    benchmark.extra_info.update(
        case_info(case, epoch, timed, {}),
        model=model.name,
        **training_info(timed, adjacent_reference(adjacent, model_alone, model_only), idg_epochs.get(epoch),
                        # an emulated step sleeps: the loader has the CPU to itself, whatever the device
                        "emulated accelerator" if bench_settings.accelerator else machine_info()["device"]),
        **memory_info(case, timed, dataset_index, contract),
        **dataset_info(dataset_index),
        **contract_info(contract),
        **machine_info(),
    )
