"""Grain's two loaders (``pipelines/loaders/grain_folder.py``, the ``grain`` extra) under the contract: labels exact,
pixels within the measured tolerance of tf.data's, every image once an epoch, Grain's own loader reshuffling
every epoch and Keras' ``format="grain"`` keeping its one order, ``model.fit`` fed through Keras' Grain adapter,
and a missing Grain named with its install hint.

Measured tolerance (docs/loaders-and-caches.md), mean absolute difference from the tf.data loader in pixel
levels of 255: ``kerasdir-grain`` decodes with PIL and resizes with TensorFlow's op (through Keras): 1.37
bilinear, 1.44 nearest on the tiny set (64x48 -> 32x32); 0.99 and 1.01 on smoke (320x240 -> 224); 1.26 and 1.35
on coco2017's shape (640x480 -> 224) -- the two JPEG decoders' rounding. ``grain`` decodes and resizes with PIL:
its pixels are ImageDataGenerator's (2.62 bilinear, 1.44 nearest on the tiny set; 4.22 and 1.99 on coco2017).
"""

from __future__ import annotations

import numpy as np
import pytest

from pipelines.loaders.pipeline import unbuildable_reason
from pipelines.loaders.registry import LOADER_SPECS
from tests.conftest import SMALL_CONTRACT
from tests.helpers import epoch_arrays, needs_loader, requiring
from tests.test_loaders import IDG_MEAN_TOLERANCE

needs_grain = needs_loader("grain")
#: kerasdir-grain against tf.data: above the tiny set's 1.37 (bilinear) and 1.44 (nearest).
KERAS_GRAIN_MEAN_TOLERANCE = 1.6 / 255


@needs_grain
@pytest.mark.parametrize("interpolation", ["nearest", "bilinear"])
def test_grain_loaders_yield_tfdatas_labels_and_pixels_within_the_measured_tolerance(tiny_dataset, interpolation):
    contract = SMALL_CONTRACT.with_(interpolation=interpolation)
    (ref_x, ref_y), = epoch_arrays("tfdata", tiny_dataset, contract)
    (keras_x, keras_y), = epoch_arrays("kerasdir-grain", tiny_dataset, contract)
    (grain_x, grain_y), = epoch_arrays("grain", tiny_dataset, contract)
    (idg_x, _), = epoch_arrays("idg", tiny_dataset, contract)
    for x, y in ((keras_x, keras_y), (grain_x, grain_y)):
        np.testing.assert_array_equal(y, ref_y)
        assert x.shape == ref_x.shape and x.dtype == np.float32 and 0.0 <= x.min() and x.max() <= 1.0
    assert np.abs(keras_x - ref_x).mean() < KERAS_GRAIN_MEAN_TOLERANCE
    assert np.abs(grain_x - ref_x).mean() < IDG_MEAN_TOLERANCE[interpolation]
    np.testing.assert_allclose(grain_x, idg_x, atol=1e-6)  # the same PIL decode and resize


@needs_grain
def test_one_hot_labels_and_a_short_last_batch(tiny_dataset):
    contract = SMALL_CONTRACT.with_(label_mode="categorical")
    (ref_x, ref_y), = epoch_arrays("tfdata", tiny_dataset, contract)
    for loader in ("grain", "kerasdir-grain"):
        with_batches = []
        from pipelines.loaders import open_pipeline

        with open_pipeline(loader, tiny_dataset, contract) as pipeline:
            with_batches = [len(y) for _, y in pipeline.epoch()]
        assert with_batches == [4, 4, 3], loader
        (_, y), = epoch_arrays(loader, tiny_dataset, contract)
        np.testing.assert_array_equal(y, ref_y)
        assert y.dtype == np.float32


@needs_grain
def test_grain_reshuffles_every_epoch_and_keras_grain_keeps_its_one_order(tiny_dataset):
    """every epoch sees every image once; Grain's epoch-aware shuffle gives each epoch its own order, Keras'
    format="grain" shuffles the file names once (as its users get it, and as the registry declares)"""
    contract = SMALL_CONTRACT.with_(shuffle=True, seed=5)
    for loader in ("grain", "kerasdir-grain"):
        epochs = epoch_arrays(loader, tiny_dataset, contract, epochs=4)
        for _, y in epochs:
            assert sorted(y.tolist()) == sorted(tiny_dataset.labels)
        orders = {tuple(np.round(x.reshape(len(x), -1).mean(axis=1), 5)) for x, _ in epochs}
        assert (len(orders) > 1) == LOADER_SPECS[loader].reshuffles, loader
    assert LOADER_SPECS["grain"].reshuffles and not LOADER_SPECS["kerasdir-grain"].reshuffles


@needs_grain
@pytest.mark.parametrize("loader", ["grain", "kerasdir-grain"])
def test_model_fit_trains_on_every_image_through_keras_grain_adapter(tiny_dataset, loader):
    from pipelines.loaders import open_pipeline
    from pipelines.training import ModelSpec, build_model, fit_epoch

    model = build_model(ModelSpec(len(tiny_dataset.class_names), alpha=0.25), SMALL_CONTRACT)
    with open_pipeline(loader, tiny_dataset, SMALL_CONTRACT) as pipeline:
        runs = [fit_epoch(model, pipeline) for _ in range(2)]
    assert [(run.images, run.batches) for run in runs] == [(tiny_dataset.images, 3)] * 2


def test_a_missing_grain_is_a_skip_naming_the_extra(monkeypatch):
    """without the package, both loaders are unbuildable with the install hint (their cases are skipped with it)"""
    from pipelines.harness.cases import Case

    absent = "nosuchpackage_loaderbench_grain"  # not installed for real: the installed Grain cannot be hidden
    for loader in ("grain", "kerasdir-grain"):
        requiring(monkeypatch, loader, absent)
    for loader in ("grain", "kerasdir-grain"):
        reason = unbuildable_reason(loader, SMALL_CONTRACT)
        assert reason and f"{absent!r}, not installed" in reason and "pip install '.[grain]'" in reason, reason
        assert Case(loader, "none", "uint8").skip_reason(SMALL_CONTRACT) == reason
    assert unbuildable_reason("tfdata", SMALL_CONTRACT) is None


@needs_grain
@pytest.mark.parametrize("loader", ["grain", "kerasdir-grain"])
def test_grain_offers_no_cache_and_says_so(loader):
    reason = unbuildable_reason(loader, SMALL_CONTRACT.with_(cache="memory"))
    assert reason and "has no cache" in reason


@needs_grain
def test_grains_worker_processes_are_measured_with_its_epochs(tiny_dataset):
    """the workers' RSS (summed) is sampled during the epochs, beside this process's"""
    from pipelines.harness.cold_warm import time_epochs
    from pipelines.epoch.run import run_epoch
    from pipelines.harness.plan import RoundPlan
    from pipelines.harness.rounds import OffRecordBenchmark
    from pipelines.loaders import open_pipeline

    contract = SMALL_CONTRACT.with_(parallelism=2)
    timed = time_epochs(OffRecordBenchmark(), lambda: open_pipeline("grain", tiny_dataset, contract), run_epoch,
                        "warm", RoundPlan(rounds=2, min_round_s=0.0))
    assert timed.images == tiny_dataset.images
    assert timed.workers_peak_rss_bytes > 2 * 10**7  # two Python processes with NumPy and PIL: tens of MB each
    assert timed.process_peak_rss_bytes > 0
