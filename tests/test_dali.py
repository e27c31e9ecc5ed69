"""NVIDIA DALI's CPU loader (``pipelines/loaders/dali_folder.py``, the ``dali`` extra) under the contract: labels
exact, pixels within the measured tolerance of tf.data's, every image once an epoch and a new order every epoch,
the contract's short last batch (the reader's padding cut off), and a missing DALI named with its install hint.

Measured tolerance (docs/loaders-and-caches.md), mean absolute difference from the tf.data loader in pixel
levels of 255: DALI decodes with libjpeg-turbo, as TensorFlow does, and resizes without antialiasing, as
``tf.image.resize`` does; the two decoders round differently (TensorFlow's own libjpeg settings): 1.37 bilinear
and 1.44 nearest on the tiny set (64x48 -> 32x32), as for Keras' PIL decode.
"""

from __future__ import annotations

import numpy as np
import pytest

from pipelines.loaders.pipeline import unbuildable_reason
from pipelines.loaders.registry import LOADER_SPECS
from tests.conftest import SMALL_CONTRACT
from tests.helpers import broken_package, epoch_arrays, needs_loader, requiring

needs_dali = needs_loader("dali")
#: DALI against tf.data: above the tiny set's 1.37 (bilinear) and 1.44 (nearest).
DALI_MEAN_TOLERANCE = 1.6 / 255


@needs_dali
@pytest.mark.parametrize("interpolation", ["nearest", "bilinear"])
def test_dali_yields_tfdatas_labels_and_pixels_within_the_measured_tolerance(tiny_dataset, interpolation):
    contract = SMALL_CONTRACT.with_(interpolation=interpolation)
    (ref_x, ref_y), = epoch_arrays("tfdata", tiny_dataset, contract)
    (x, y), = epoch_arrays("dali", tiny_dataset, contract)
    np.testing.assert_array_equal(y, ref_y)
    assert x.shape == ref_x.shape and x.dtype == np.float32 and 0.0 <= x.min() and x.max() <= 1.0
    assert np.abs(x - ref_x).mean() < DALI_MEAN_TOLERANCE


@needs_dali
def test_one_hot_labels_and_the_short_last_batch_without_the_readers_padding(tiny_dataset):
    from pipelines.loaders import open_pipeline

    contract = SMALL_CONTRACT.with_(label_mode="categorical")
    (_, ref_y), = epoch_arrays("tfdata", tiny_dataset, contract)
    with open_pipeline("dali", tiny_dataset, contract) as pipeline:
        sizes = [[len(y) for _, y in pipeline.epoch()] for _ in range(2)]
    assert sizes == [[4, 4, 3]] * 2
    (_, y), = epoch_arrays("dali", tiny_dataset, contract)
    np.testing.assert_array_equal(y, ref_y)
    assert y.dtype == np.float32


@needs_dali
def test_every_image_once_an_epoch_in_a_new_order_every_epoch(tiny_dataset):
    epochs = epoch_arrays("dali", tiny_dataset, SMALL_CONTRACT.with_(shuffle=True, seed=5), epochs=4)
    for _, y in epochs:
        assert sorted(y.tolist()) == sorted(tiny_dataset.labels)
    images = [{x.tobytes() for x in xs} for xs, _ in epochs]
    assert all(len(seen) == tiny_dataset.images for seen in images) and len({frozenset(s) for s in images}) == 1
    orders = {tuple(np.round(x.reshape(len(x), -1).mean(axis=1), 5)) for x, _ in epochs}
    assert len(orders) > 1 and LOADER_SPECS["dali"].reshuffles


def test_a_missing_dali_is_a_skip_naming_the_extra(monkeypatch):
    """DALI's package is ``nvidia.dali``: where ``nvidia`` is absent, ``find_spec`` raises instead of answering
    None. A package whose parent is absent for real stands in for it (the installed DALI cannot be hidden)."""
    import importlib.util

    from pipelines.harness.cases import Case

    requiring(monkeypatch, "dali", "nosuchparent_loaderbench.dali")
    with pytest.raises(ModuleNotFoundError):  # the premise: this is the case that raised
        importlib.util.find_spec("nosuchparent_loaderbench.dali")
    reason = unbuildable_reason("dali", SMALL_CONTRACT)
    assert reason and "not installed" in reason, reason
    assert "pip install '.[dali]'" in reason and "tox -e bench-dali" in reason, reason
    assert Case("dali", "none", "uint8").skip_reason(SMALL_CONTRACT) == reason


@pytest.mark.parametrize(("raises", "cause"), [
    ('ImportError("libfoo.so: cannot open shared object file")',
     "ImportError: libfoo.so: cannot open shared object file"),
    ('OSError("libcudart.so.12: cannot open shared object file: No such file or directory")',
     "OSError: libcudart.so.12: cannot open shared object file: No such file or directory"),
], ids=["ImportError", "OSError"])
def test_a_dali_that_fails_to_import_is_a_skip_naming_the_extra_and_the_cause(monkeypatch, tmp_path, raises, cause):
    """installed, but its import raises (a shared library missing): skipped, saying so with the error's line"""
    from pipelines.harness.cases import Case

    monkeypatch.syspath_prepend(str(tmp_path))
    package = broken_package(tmp_path, f"loaderbench_broken_dali_{cause.partition(':')[0].lower()}", raises)
    requiring(monkeypatch, "dali", package)
    reason = unbuildable_reason("dali", SMALL_CONTRACT)
    assert reason and f"installed but fails to import ({cause})" in reason, reason
    assert "pip install '.[dali]'" in reason and "tox -e bench-dali" in reason, reason
    assert Case("dali", "none", "uint8").skip_reason(SMALL_CONTRACT) == reason


@needs_dali
def test_dali_offers_no_cache_and_no_training_case():
    reason = unbuildable_reason("dali", SMALL_CONTRACT.with_(cache="file"))
    assert reason and "has no cache" in reason
    assert not LOADER_SPECS["dali"].trained
