"""Every loader under one contract: same images, same labels, every cache mode equal to none.

Measured tolerance (stated in docs/loaders-and-caches.md): tf.data from files and image_dataset_from_directory are
bit-equal (same decode and resize ops). ImageDataGenerator decodes and resizes with PIL: with ``nearest``
its sampling grid picks a neighbouring source pixel on some rows/columns, and with ``bilinear`` PIL
antialiases while TensorFlow does not, so the gap grows with the shrink factor. Mean absolute difference
measured on the tiny test set (64x48 -> 32x32): 2.62/255 bilinear, 1.44/255 nearest (smoke, 320x240 -> 224:
1.19 and 1.03; coco2017's 640x480 -> 224: 4.20 and 1.98); the bounds below sit just above the tiny set's.
Labels and order are always identical.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from PIL import Image

from pipelines.caches.folders import cache_files, lockfiles
from pipelines.cleanup.ownership import marker_text
from pipelines.cleanup.scratch import MARKER
from pipelines.loaders.contract import Contract
from pipelines.datasets import generate, index_dataset
from pipelines.loaders import LOADERS, open_pipeline
from pipelines.loaders.registry import LOADER_SPECS
from pipelines.loaders.compare import pixel_difference
from pipelines.loaders.tfdata import dct_ratios
from pipelines.loaders.tfops import dct_ratio, without_autotune
from pipelines.epoch.run import run_epoch
from tests.conftest import SMALL_CONTRACT
from tests.helpers import epoch_arrays
from tests.strategies import equality_contracts, tiny_presets

IDG_MEAN_TOLERANCE = {"bilinear": 3.0 / 255, "nearest": 1.7 / 255}
#: The fast decode (DCT scaling at 1/2, here 64x48 -> 32x24 -> 16x16) against the exact one: measured 4.99/255.
FAST_MEAN_TOLERANCE = 5.5
TF_LOADERS = ("tfdata", "kerasdir")
CACHED = [(cache, placement) for cache in ("memory", "file") for placement in ("uint8", "float32")]
#: tf.data's persistent caches, offered by the tf.data loader (pipelines/loaders/pipeline.py).
PERSISTENT = ("snapshot", "save", "save-gzip")


@pytest.mark.parametrize("interpolation", ["nearest", "bilinear"])
def test_all_loaders_yield_the_same_images_and_labels(tiny_dataset, interpolation):
    contract = SMALL_CONTRACT.with_(interpolation=interpolation)
    (ref_x, ref_y), = epoch_arrays("tfdata", tiny_dataset, contract)
    assert ref_x.shape == (tiny_dataset.images, 32, 32, 3) and ref_x.dtype == np.float32
    assert 0.0 <= ref_x.min() and ref_x.max() <= 1.0
    assert ref_y.tolist() == list(tiny_dataset.labels)

    (keras_x, keras_y), = epoch_arrays("kerasdir", tiny_dataset, contract)
    np.testing.assert_array_equal(keras_y, ref_y)
    np.testing.assert_array_equal(keras_x, ref_x)

    (idg_x, idg_y), = epoch_arrays("idg", tiny_dataset, contract)
    np.testing.assert_array_equal(idg_y, ref_y)
    assert idg_x.shape == ref_x.shape and idg_x.dtype == np.float32
    assert np.abs(idg_x - ref_x).mean() < IDG_MEAN_TOLERANCE[interpolation]

    (processes_x, processes_y), = epoch_arrays("idg-processes", tiny_dataset, contract)  # forked workers
    np.testing.assert_array_equal(processes_y, idg_y)
    np.testing.assert_array_equal(processes_x, idg_x)


def test_fast_decode_is_exact_without_scaling_and_close_with_it(tiny_dataset):
    """the fast variant: same labels and order; bit-equal where no DCT scaling applies, bounded where it does"""
    (ref_x, ref_y), = epoch_arrays("tfdata", tiny_dataset, SMALL_CONTRACT)
    (fast_x, fast_y), = epoch_arrays("tfdata-fast", tiny_dataset, SMALL_CONTRACT)
    np.testing.assert_array_equal(fast_y, ref_y)
    np.testing.assert_array_equal(fast_x, ref_x)  # 48 rows -> 32: no ratio of 2 fits, the fast DCT is the default
    shrunk = SMALL_CONTRACT.with_(image_size=(16, 16))
    difference = pixel_difference(tiny_dataset, shrunk)
    assert difference.images == tiny_dataset.images
    assert 0 < difference.mean < FAST_MEAN_TOLERANCE
    (exact_x, _), = epoch_arrays("tfdata", tiny_dataset, shrunk)
    (fast_x, _), = epoch_arrays("tfdata-fast", tiny_dataset, shrunk)
    assert np.abs(exact_x - fast_x).mean() * 255 == pytest.approx(difference.mean, rel=1e-3)


@pytest.mark.parametrize("loader", TF_LOADERS)
@pytest.mark.parametrize(("cache", "placement"), CACHED)
def test_every_cache_mode_and_placement_yields_the_same_tensors_as_none(tiny_dataset, loader, cache, placement):
    """every cache mode and placement yields the same tensors as none, in the filling and the cached epoch"""
    (ref_x, ref_y), = epoch_arrays(loader, tiny_dataset, SMALL_CONTRACT)
    epochs = epoch_arrays(loader, tiny_dataset, SMALL_CONTRACT.with_(cache=cache, placement=placement), epochs=2)
    for x, y in epochs:
        np.testing.assert_array_equal(y, ref_y)
        np.testing.assert_array_equal(x, ref_x)


@pytest.mark.parametrize("placement", ["uint8", "float32"])
@pytest.mark.parametrize("cache", PERSISTENT)
def test_persistent_caches_yield_the_same_tensors_as_none(tiny_dataset, cache, placement):
    """snapshot and save/load: bit-equal to no cache, in the epoch that writes (or follows the save) and after"""
    (ref_x, ref_y), = epoch_arrays("tfdata", tiny_dataset, SMALL_CONTRACT)
    for x, y in epoch_arrays("tfdata", tiny_dataset, SMALL_CONTRACT.with_(cache=cache, placement=placement),
                             epochs=2):
        np.testing.assert_array_equal(y, ref_y)
        np.testing.assert_array_equal(x, ref_x)


def test_snapshot_reads_back_images_larger_than_snappys_buffer(tiny_dataset):
    """a float32 224x224 image is 602 KB: TensorFlow's default snapshot compression (snappy) cannot read one back"""
    contract = SMALL_CONTRACT.with_(image_size=(224, 224), placement="float32")
    (ref_x, _), = epoch_arrays("tfdata", tiny_dataset, contract)
    for x, _ in epoch_arrays("tfdata", tiny_dataset, contract.with_(cache="snapshot"), epochs=2):
        np.testing.assert_array_equal(x, ref_x)


_WRITE_IN_ANOTHER_PROCESS = """
import sys
from pathlib import Path
from pipelines.datasets import index_dataset
from pipelines.loaders.tfdata import build_tfdata_pipeline
from tests.conftest import SMALL_CONTRACT
index = index_dataset(sys.argv[1])
pipeline = build_tfdata_pipeline(index, SMALL_CONTRACT.with_(cache=sys.argv[2]), Path(sys.argv[3]))
print(sum(int(x.shape[0]) for x, _ in pipeline))
"""


@pytest.mark.parametrize("cache", ["snapshot", "save"])
def test_a_persistent_cache_written_by_one_process_is_read_by_another(own_tiny_dataset, tmp_path, cache):
    """what makes snapshot and save persistent: a second run reads the first run's files, with the JPEGs gone,
    and writes nothing"""
    import subprocess
    import sys

    from pipelines.loaders.tfdata import build_tfdata_pipeline

    prefix = tmp_path / "persistent.tfcache"
    written = subprocess.run([sys.executable, "-c", _WRITE_IN_ANOTHER_PROCESS, str(own_tiny_dataset.root), cache,
                              str(prefix)], capture_output=True, text=True, check=True)
    assert written.stdout.split()[-1] == str(own_tiny_dataset.images)
    before = {p: p.stat().st_mtime_ns for p in cache_files(prefix)}
    assert before
    (ref_x, ref_y), = epoch_arrays("tfdata", own_tiny_dataset, SMALL_CONTRACT)
    for path in own_tiny_dataset.paths:
        path.unlink()
    batches = list(build_tfdata_pipeline(own_tiny_dataset, SMALL_CONTRACT.with_(cache=cache), prefix))
    np.testing.assert_array_equal(np.concatenate([np.asarray(y) for _, y in batches]), ref_y)
    np.testing.assert_array_equal(np.concatenate([np.asarray(x) for x, _ in batches]), ref_x)
    assert {p: p.stat().st_mtime_ns for p in cache_files(prefix)} == before


@pytest.mark.parametrize("loader", TF_LOADERS)
@pytest.mark.parametrize("cache", ["memory", "file"])
def test_cache_is_filled_in_epoch_one_and_read_in_epoch_two(own_tiny_dataset, tmp_path, loader, cache):
    """after epoch 1 the cache holds the data: epoch 2 works with the image files gone"""
    contract = SMALL_CONTRACT.with_(cache=cache, cache_dir=tmp_path / "caches")
    with open_pipeline(loader, own_tiny_dataset, contract) as pipeline:
        first = run_epoch(pipeline)
        if cache == "file":
            names = [p.name for p in cache_files(pipeline.cache_prefix)]
            assert any(n.endswith(".index") for n in names) and any(".data-" in n for n in names)
            assert not lockfiles(pipeline.cache_prefix)
        for path in own_tiny_dataset.paths:
            path.unlink()
        second = run_epoch(pipeline)
    assert first.images == second.images == own_tiny_dataset.images


def test_a_partly_read_file_cache_is_not_left_looking_complete(tmp_path):
    """negative control for the on-disk completeness check: a writer stopped early leaves no index behind

    (A plain dataset without prefetch, so that nothing reads ahead to the end behind the test's back.)
    """
    import tensorflow as tf

    prefix = tmp_path / "partial.tfcache"
    iterator = iter(tf.data.Dataset.range(100).cache(str(prefix)))
    next(iterator)
    assert lockfiles(prefix)  # being written
    del iterator
    assert not any(p.name.endswith(".index") for p in cache_files(prefix))


@pytest.mark.parametrize(("loader", "cache"), [(loader, "file") for loader in TF_LOADERS]
                         + [("tfdata", cache) for cache in PERSISTENT])
def test_no_cache_file_remains_after_the_pipeline_closes(tiny_dataset, tmp_path, loader, cache):
    contract = SMALL_CONTRACT.with_(cache=cache, cache_dir=tmp_path)
    with open_pipeline(loader, tiny_dataset, contract) as pipeline:
        run_epoch(pipeline)
        assert cache_files(pipeline.cache_prefix)
    assert list(tmp_path.iterdir()) == []


def test_cache_left_by_a_killed_writer_is_rebuilt(tiny_dataset, tmp_path):
    """a partial cache with its lockfile (a killed run) is cleared and rebuilt, not an error"""
    contract = SMALL_CONTRACT.with_(cache="file", cache_dir=tmp_path)
    (ref_x, _), = epoch_arrays("tfdata", tiny_dataset, SMALL_CONTRACT)
    with open_pipeline("tfdata", tiny_dataset, contract) as pipeline:
        prefix = pipeline.cache_prefix
        prefix.with_name(prefix.name + "_0.lockfile").write_text("killed writer")
        prefix.with_name(prefix.name + "_0.data-00000-of-00001").write_bytes(b"partial")
        xs = [np.asarray(x) for x, _ in pipeline.epoch()]
        assert not lockfiles(prefix)
        np.testing.assert_array_equal(np.concatenate(xs), ref_x)


def test_abandoned_cache_folders_of_dead_processes_are_swept(tiny_dataset, tmp_path):
    """a killed run's cache folder (its marker names a process that is gone) is removed; a folder with our name
    but no marker of ours, and anyone else's, are left as they are"""
    stale = tmp_path / "loaderbench-cache-stale"
    stale.mkdir()
    (stale / MARKER).write_text(marker_text("scratch") + "999999999 0.0\n")
    (stale / "x.tfcache.index").write_bytes(b"old")
    lookalike = tmp_path / "loaderbench-cache-mine"
    lookalike.mkdir()
    (lookalike / "owner.pid").write_text("999999999")
    foreign = tmp_path / "someone-elses"
    foreign.mkdir()
    with open_pipeline("tfdata", tiny_dataset, SMALL_CONTRACT.with_(cache="file", cache_dir=tmp_path)):
        assert not stale.exists()
    assert foreign.exists() and (lookalike / "owner.pid").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["loaderbench-cache-mine", "someone-elses"]


def test_idg_has_no_cache_and_says_so(tiny_dataset):
    with pytest.raises(ValueError, match="ImageDataGenerator has no cache"):
        with open_pipeline("idg", tiny_dataset, SMALL_CONTRACT.with_(cache="memory")):
            pass


@pytest.mark.parametrize(("loader", "cache"), [(loader, cache) for loader in sorted(LOADERS)
                                               for cache in ("none", "memory")
                                               if cache in LOADER_SPECS[loader].caches
                                               and LOADER_SPECS[loader].reshuffles  # tests/test_grain.py
                                               and not LOADER_SPECS[loader].on_service])  # tests/test_service.py
def test_shuffled_epochs_are_permutations_that_change(tiny_dataset, loader, cache):
    """with shuffle on, every epoch sees every image once, in a new order"""
    if LOADER_SPECS[loader].missing():
        pytest.skip(LOADER_SPECS[loader].missing())
    contract = SMALL_CONTRACT.with_(shuffle=True, cache=cache, seed=5)
    epochs = epoch_arrays(loader, tiny_dataset, contract, epochs=5)  # kerasdir + cache: 3 batches reordered
    for _, y in epochs:
        assert sorted(y.tolist()) == sorted(tiny_dataset.labels)
    orders = {tuple(np.round(x.reshape(len(x), -1).mean(axis=1), 5)) for x, _ in epochs}
    assert len(orders) > 1


#: The tf.data builders whose every parallel step (decode map, batch, finishing map) follows
#: ``Contract.parallelism``, with the shuffle each one draws a new order from every epoch: over the file names
#: without a cache, after the cache with one (pipelines/loaders/tfops.py).
RESHUFFLED_BY_TFDATA = [("tfdata", "none"), ("tfdata", "memory"), ("tfdata-fast", "none")]


@pytest.mark.parametrize(("loader", "cache"), RESHUFFLED_BY_TFDATA)
def test_every_epoch_is_a_new_draw_of_the_shuffle_not_decode_jitter(tiny_dataset, loader, cache):
    """the shuffle reshuffles every epoch: no epoch comes in the order of the one before

    With AUTOTUNE the non-deterministic parallel steps reorder images a little on their own, so a shuffle that
    drew one order for every epoch (``reshuffle_each_iteration=False``) still shows epochs that differ (the test
    above). With one call at a time nothing but the shuffle orders the images, so each epoch's order is exactly
    the shuffle's draw: a shuffle that does not reshuffle repeats it exactly, every time, and a seeded one that
    does gives the same four distinct orders on every run (no timing enters; 11 images: 11! orders).
    """
    contract = SMALL_CONTRACT.with_(shuffle=True, cache=cache, seed=5, parallelism=1)
    epochs = epoch_arrays(loader, tiny_dataset, contract, epochs=4)
    fingerprints = [tuple(np.round(x.reshape(len(x), -1).mean(axis=1), 5)) for x, _ in epochs]
    assert len(set(fingerprints[0])) == tiny_dataset.images  # each image told apart by its mean pixel
    for epoch, (before, after) in enumerate(zip(fingerprints, fingerprints[1:]), start=2):
        assert sorted(after) == sorted(before)  # the same images
        assert after != before, f"epoch {epoch} came in the order of epoch {epoch - 1}: the shuffle drew no new order"


@given(preset=tiny_presets(max_images=9), contract=equality_contracts(), cached=st.sampled_from([None] + CACHED))
def test_property_loaders_agree_on_any_small_dataset(tmp_path_factory, preset, contract, cached):
    """any dataset shape and batch size: same count, labels and order; tf loaders bit-equal; caches equal"""
    folder = tmp_path_factory.mktemp("prop")
    generate(preset, folder, seed=2, progress=False)
    index = index_dataset(folder)
    cached_contract = contract.with_(cache=cached[0], placement=cached[1]) if cached else contract
    (ref_x, ref_y), = epoch_arrays("tfdata", index, contract)
    assert len(ref_x) == preset.images
    expected_labels = list(index.labels)
    if contract.label_mode == "categorical":
        expected_labels = np.eye(preset.classes)[expected_labels].tolist()
    assert ref_y.tolist() == expected_labels
    for loader in TF_LOADERS:
        (x, y), = epoch_arrays(loader, index, cached_contract)
        np.testing.assert_array_equal(y, ref_y)
        np.testing.assert_array_equal(x, ref_x)
    (idg_x, idg_y), = epoch_arrays("idg", index, contract)
    np.testing.assert_array_equal(idg_y, ref_y)
    assert idg_x.shape == ref_x.shape


def test_odd_images_are_converted_to_rgb_by_every_loader(tmp_path):
    """grayscale, CMYK, RGBA PNG and BMP files: every loader yields 3-channel images that agree"""
    rng = np.random.default_rng(0)
    for name, mode, fmt in [("g.jpg", "L", "JPEG"), ("c.jpg", "CMYK", "JPEG"), ("p.png", "RGBA", "PNG"),
                            ("m.bmp", "RGB", "BMP"), ("r.jpg", "RGB", "JPEG")]:
        smooth = np.kron(rng.integers(0, 256, (6, 8, 3)), np.ones((8, 8, 1))).astype(np.uint8)
        (tmp_path / "k" / "a").mkdir(parents=True, exist_ok=True)
        Image.fromarray(smooth).convert(mode).save(tmp_path / "k" / "a" / name, format=fmt)
    index = index_dataset(tmp_path / "k")
    contract = Contract(image_size=(24, 32), batch_size=2, shuffle=False, interpolation="nearest")
    (ref_x, _), = epoch_arrays("tfdata", index, contract)
    (keras_x, _), = epoch_arrays("kerasdir", index, contract)
    (idg_x, _), = epoch_arrays("idg", index, contract)
    assert ref_x.shape == idg_x.shape == (5, 24, 32, 3)
    np.testing.assert_array_equal(keras_x, ref_x)
    assert np.abs(idg_x - ref_x).mean() < IDG_MEAN_TOLERANCE["nearest"]


def test_fast_decode_plans_its_ratios_from_the_headers(tiny_dataset, tmp_path):
    """the ratio is the largest that keeps both sides at or above the target; read once per dataset"""
    assert [dct_ratio(h, w, (224, 224)) for h, w in [(480, 640), (427, 640), (900, 900), (4000, 3000)]] == [2, 1, 4, 8]
    assert dct_ratios(tiny_dataset.paths, (32, 32)) == {1}  # the exact decode, no branch
    assert dct_ratios(tiny_dataset.paths, (16, 16)) == {2}  # one ratio for all: no branch either
    png = tmp_path / "odd.png"
    Image.fromarray(np.zeros((64, 64, 3), np.uint8)).save(png)
    assert dct_ratios((*tiny_dataset.paths, png), (16, 16)) == {2, None}  # per image, PNG by the exact path


def test_a_reference_pass_runs_with_autotuning_off_and_yields_the_same_elements():
    """the decode limit and the fill probe set their parallelism and switch tf.data's autotuning off, so that a
    round ends when its work does; the elements are the same"""
    import tensorflow as tf

    dataset = tf.data.Dataset.range(10).map(lambda i: i * 2, num_parallel_calls=2).prefetch(2)
    assert dataset.options().autotune.enabled is not False
    untuned = without_autotune(dataset)
    assert untuned.options().autotune.enabled is False
    assert [int(x) for x in untuned] == [int(x) for x in dataset] == list(range(0, 20, 2))


def test_every_loader_reads_the_same_files_in_nested_and_hidden_folders(tmp_path):
    """images in sub-folders and hidden folders of a class are read by all loaders, in the same order"""
    rng = np.random.default_rng(1)
    for rel in ["a/1.jpg", "a/.ipynb_checkpoints/5.jpg", "a/z/0.jpg", "b/2.jpg", "b/.9.png"]:
        path = tmp_path / "t" / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(np.kron(rng.integers(0, 256, (4, 4, 3)), np.ones((8, 8, 1))).astype(np.uint8)).save(path)
    (tmp_path / "t" / "a" / ".DS_Store").write_bytes(b"x")
    index = index_dataset(tmp_path / "t")
    contract = Contract(image_size=(16, 16), batch_size=2, shuffle=False, interpolation="nearest")
    (ref_x, ref_y), = epoch_arrays("tfdata", index, contract)
    (keras_x, keras_y), = epoch_arrays("kerasdir", index, contract)
    (idg_x, idg_y), = epoch_arrays("idg", index, contract)
    assert len(ref_x) == len(keras_x) == len(idg_x) == 5
    np.testing.assert_array_equal(keras_x, ref_x)
    assert ref_y.tolist() == keras_y.tolist() == idg_y.tolist() == [0, 0, 0, 1, 1]
    assert np.abs(idg_x - ref_x).mean() < IDG_MEAN_TOLERANCE["nearest"]

