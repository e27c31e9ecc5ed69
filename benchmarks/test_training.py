"""How long is a real MobileNet transfer-learning epoch with each loader x cache mode? (one round = one epoch)

The model is built once per session and keeps training from case to case: weights change, the work per
epoch does not. Its train step is traced before any timing (see ``model_only``), so no case pays for it.
"""

from __future__ import annotations

import pytest

from pipelines.cases import EPOCHS, TRAINING_CASES, Case, case_id
from pipelines.config import BenchSettings
from pipelines.datasets import DatasetIndex
from pipelines.harness import time_epochs
from pipelines.loaders import open_pipeline
from pipelines.machine import machine_info
from pipelines.measure import run_epoch
from pipelines.report.extra_info import case_info, dataset_info, memory_info, training_info
from pipelines.training import ModelSpec, build_model, fit_epoch, model_only_images_per_sec

PARAMS = [pytest.param(case, epoch, id=case_id(case, epoch)) for case in TRAINING_CASES for epoch in EPOCHS]


@pytest.fixture(scope="session")
def model(dataset_index: DatasetIndex, bench_settings: BenchSettings):
    spec = ModelSpec(len(dataset_index.class_names), bench_settings.alpha, bench_settings.weights)
    return build_model(spec, bench_settings.contract)


@pytest.fixture(scope="session")
def model_only(model, dataset_index: DatasetIndex, bench_settings: BenchSettings) -> float:
    """Images/s of the model on in-memory tensors: the speed no loader can beat."""
    return model_only_images_per_sec(model, bench_settings.contract, dataset_index.images,
                                     len(dataset_index.class_names))


@pytest.fixture(scope="session")
def idg_epoch_s() -> dict[str, float]:
    """ImageDataGenerator's epoch seconds per epoch kind, filled as its cases run (they run first)."""
    return {}


def test_model_only(benchmark, model, model_only: float, dataset_index: DatasetIndex, bench_settings: BenchSettings):
    """Reference case: the model's epoch on in-memory tensors."""
    benchmark.group = f"training {dataset_index.name}"
    contract = bench_settings.contract
    benchmark.pedantic(model_only_images_per_sec, args=(model, contract, dataset_index.images,
                                                        len(dataset_index.class_names)),
                       rounds=bench_settings.training_rounds)
    benchmark.extra_info.update(loader="model-only", cache="none", placement="float32", epoch="warm",
                                images=dataset_index.images, model_images_per_sec=round(model_only, 2),
                                epoch_s=round(dataset_index.images / model_only, 3),
                                **dataset_info(dataset_index), **machine_info())


@pytest.mark.parametrize(("case", "epoch"), PARAMS)
def test_training(benchmark, case: Case, epoch: str, model, model_only: float, idg_epoch_s: dict[str, float],
                  warm_throughput: dict[str, float], dataset_index: DatasetIndex, bench_settings: BenchSettings):
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
        bench_settings.training_rounds,
        fill=run_epoch,
    )

    assert timed.images == dataset_index.images, "model.fit must have consumed every image once"
    epoch_s = timed.median_seconds()
    if case.loader == "idg":
        idg_epoch_s[epoch] = epoch_s
    benchmark.extra_info.update(
        case_info(case, epoch, timed, timed.images / epoch_s, None),
        **training_info(timed, model_only, idg_epoch_s.get(epoch), warm_throughput.get(case.id)),
        **memory_info(case, timed, dataset_index, contract),
        **dataset_info(dataset_index),
        **machine_info(),
    )
