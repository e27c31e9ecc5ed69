"""TFRecord shards: the converter (deterministic, resumable, never writing into the dataset, damage reported by
file name) and the loader reading them (the folder loader's labels, order and pixels, bit for bit)."""

from __future__ import annotations

import json
import os
import warnings
from pathlib import Path

import numpy as np
import pytest

from pipelines.datasets import DatasetError
from pipelines.datasets import shards as tfr
from pipelines.datasets.shards import __main__ as shards_cli
from pipelines.datasets.shards import writer
from pipelines.loaders import open_pipeline
from pipelines.loaders.pipeline import Pipeline
from tests.conftest import SMALL_CONTRACT

CACHED = [(cache, placement) for cache in ("memory", "file") for placement in ("uint8", "float32")]


@pytest.fixture(scope="module")
def data_root(tmp_path_factory: pytest.TempPathFactory):
    """``$LOADERBENCH_DATA`` in a temporary folder for this module's loader tests (nothing in ~/.cache)."""
    root = tmp_path_factory.mktemp("loaderbench-data")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("LOADERBENCH_DATA", str(root))
        yield root


def epoch_arrays(loader, index, contract):
    """All images and labels of one epoch, as NumPy arrays."""
    with open_pipeline(loader, index, contract) as pipeline:
        batches = [(np.asarray(x), np.asarray(y)) for x, y in pipeline.epoch()]
    return np.concatenate([b[0] for b in batches]), np.concatenate([b[1] for b in batches])


def tree(folder: Path) -> dict[str, tuple[int, int]]:
    """Every file under ``folder``: relative path -> (size, mtime_ns)."""
    return {str(p.relative_to(folder)): (p.stat().st_size, p.stat().st_mtime_ns)
            for p in sorted(folder.rglob("*")) if p.is_file()}


def damage(path: Path, offset: int | None = None) -> None:
    """Flip one byte (the middle one by default), keeping the size. The mtime is moved on explicitly: a write
    within the same kernel clock tick as the last one can leave it unchanged, as no real corruption would."""
    data = bytearray(path.read_bytes())
    offset = len(data) // 2 if offset is None else offset
    data[offset] ^= 0xFF
    stat = path.stat()
    path.write_bytes(bytes(data))
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))


@pytest.mark.parametrize("cache,placement", [("none", "uint8"), *CACHED])
def test_tfrecord_loader_equals_the_folder_loader(tiny_dataset, data_root, cache, placement):
    contract = SMALL_CONTRACT.with_(cache=cache, placement=placement)
    ref_x, ref_y = epoch_arrays("tfdata", tiny_dataset, contract)
    x, y = epoch_arrays("tfrecord", tiny_dataset, contract)
    assert y.tolist() == list(tiny_dataset.labels)
    np.testing.assert_array_equal(y, ref_y)
    np.testing.assert_array_equal(x, ref_x)
    assert x.dtype == ref_x.dtype
    assert (data_root / "_tfrecord" / tfr.tfrecord_folder(tiny_dataset).name / tfr.MANIFEST_NAME).exists()


@pytest.mark.parametrize("shuffle", [False, True])
def test_the_loader_states_its_batches_for_model_fit(tiny_dataset, data_root, shuffle):
    """the record count comes from the manifest: model.fit sees a known number of steps (else Keras warns that
    the input "ran out of data" every epoch)"""
    with open_pipeline("tfrecord", tiny_dataset, SMALL_CONTRACT.with_(shuffle=shuffle)) as pipeline:
        assert int(pipeline.fit_input.cardinality()) == pipeline.steps == 3


@pytest.mark.parametrize("cache", ["none", "memory"])
def test_tfrecord_loader_reads_shards_and_shuffles_every_epoch(tiny_dataset, data_root, cache):
    contract = SMALL_CONTRACT.with_(shuffle=True, cache=cache, seed=5)
    with open_pipeline("tfrecord", tiny_dataset, contract) as pipeline:
        assert isinstance(pipeline, Pipeline)
        assert pipeline.source_paths == tfr.open_tfrecords(tfr.tfrecord_folder(tiny_dataset)).shards
        epochs = []
        for _ in range(5):
            batches = [(np.asarray(x), np.asarray(y)) for x, y in pipeline.epoch()]
            epochs.append((np.concatenate([b[0] for b in batches]), np.concatenate([b[1] for b in batches])))
    for _, labels in epochs:
        assert sorted(labels.tolist()) == sorted(tiny_dataset.labels)
    orders = {tuple(np.round(x.reshape(len(x), -1).mean(axis=1), 5)) for x, _ in epochs}
    assert len(orders) > 1


def test_loader_reports_a_shard_damaged_after_conversion(own_tiny_dataset, data_root):
    contract = SMALL_CONTRACT
    epoch_arrays("tfrecord", own_tiny_dataset, contract)
    shard = tfr.open_tfrecords(tfr.tfrecord_folder(own_tiny_dataset)).shards[3]
    damage(shard)
    with pytest.raises(DatasetError, match=shard.name):
        epoch_arrays("tfrecord", own_tiny_dataset, contract)


def test_default_folder_is_under_the_data_root_and_reused(tiny_dataset, tmp_path):
    made = tfr.ensure_tfrecords(tiny_dataset, root=tmp_path, progress=False)
    digest = tfr.source_digest(tiny_dataset)
    assert made.folder == tmp_path / "_tfrecord" / f"tiny-{digest[:12]}"
    assert made.written == len(made.shards) == tfr.default_shards(11, tiny_dataset.bytes) == 8
    assert [p.name for p in made.shards] == [f"train-{digest[:12]}-{i:05d}-of-00008.tfrecord" for i in range(8)]
    assert made.images == 11 and made.class_names == tiny_dataset.class_names
    before = tree(made.folder)
    again = tfr.ensure_tfrecords(tiny_dataset, root=tmp_path, progress=False)
    assert again.written == 0 and again.shards == made.shards and tree(made.folder) == before


def test_default_shard_rule():
    mb = 1000**2
    assert tfr.default_shards(1, 10) == 1
    assert tfr.default_shards(11, 30_000) == 8  # at least 8 for the parallel reads...
    assert tfr.default_shards(5, 30_000) == 5  # ...but never an empty shard
    assert tfr.default_shards(10_000, 217 * mb) == 8
    assert tfr.default_shards(117_266, 18_000 * mb) == 141  # about 128 MB each


def test_records_hold_the_files_bytes_labels_and_names(tiny_dataset, tmp_path):
    import tensorflow as tf

    made = tfr.convert(tiny_dataset, tmp_path / "out", shards=3, progress=False)
    assert [tfr.count_records(p) for p in made.shards] == [4, 4, 3]
    for shard_number, shard in enumerate(made.shards):
        for position, record in enumerate(tf.data.TFRecordDataset(str(shard)).as_numpy_iterator()):
            i = shard_number + 3 * position  # image i is in shard i % shards
            example = tf.train.Example.FromString(record).features.feature
            assert example[tfr.ENCODED_KEY].bytes_list.value[0] == tiny_dataset.paths[i].read_bytes()
            assert example[tfr.LABEL_KEY].int64_list.value[0] == tiny_dataset.labels[i]
            name = tiny_dataset.paths[i].relative_to(tiny_dataset.root).as_posix()
            assert example[tfr.FILENAME_KEY].bytes_list.value[0].decode() == name


def test_conversion_is_deterministic(tiny_dataset, tmp_path):
    first = tfr.convert(tiny_dataset, tmp_path / "a", progress=False)
    second = tfr.convert(tiny_dataset, tmp_path / "b", progress=False, workers=1)
    assert [p.name for p in first.shards] == [p.name for p in second.shards]
    for a, b in zip(first.shards, second.shards, strict=True):
        assert a.read_bytes() == b.read_bytes()
    assert first.digest == second.digest and first.bytes == second.bytes


def test_the_digest_follows_the_source(own_tiny_dataset):
    from pipelines.datasets import index_dataset

    before = tfr.source_digest(own_tiny_dataset)
    path = own_tiny_dataset.paths[4]
    os.utime(path, ns=(path.stat().st_atime_ns, path.stat().st_mtime_ns + 10**9))
    assert tfr.source_digest(own_tiny_dataset) != before
    path.unlink()
    assert tfr.source_digest(index_dataset(own_tiny_dataset.root)) != before


def test_converter_never_writes_into_the_source(tiny_dataset, tmp_path):
    before = tree(tiny_dataset.root)
    tfr.ensure_tfrecords(tiny_dataset, root=tmp_path, progress=False)
    tfr.convert(tiny_dataset, tmp_path / "elsewhere", shards=2, progress=False)
    with pytest.raises(DatasetError, match="inside the dataset"):
        tfr.convert(tiny_dataset, tiny_dataset.root / "_tfrecord", progress=False)
    with pytest.raises(DatasetError, match="inside the dataset"):
        tfr.ensure_tfrecords(tiny_dataset, root=tiny_dataset.root, progress=False)
    assert tree(tiny_dataset.root) == before


def test_interrupted_rerun_writes_only_missing_shards(tiny_dataset, tmp_path):
    out = tmp_path / "out"
    made = tfr.convert(tiny_dataset, out, progress=False)
    originals = {p.name: p.read_bytes() for p in made.shards}
    missing = made.shards[2]
    missing.unlink()
    (out / tfr.MANIFEST_NAME).unlink()  # killed before the manifest
    stray = out / f".{made.shards[5].name}.tmp"
    stray.write_bytes(b"half a shard")
    other_digest = out / "train-0123456789ab-00000-of-00001.tfrecord"  # a conversion of an older source
    other_digest.write_bytes(b"old")
    other_count = out / made.shards[0].name.replace("-of-00008", "-of-00004")  # same source, other count
    other_count.write_bytes(b"old")
    unrelated = [out / "notes.txt", out / "train-mine.tfrecord", out / ".tfrecord.json.bak"]
    for path in unrelated:
        path.write_text("the user's")
    kept = {p.name: (p.stat().st_ino, p.stat().st_mtime_ns) for p in made.shards if p != missing}

    again = tfr.convert(tiny_dataset, out, progress=False)
    assert again.written == 1 and again.shards == made.shards
    assert {p.name: (p.stat().st_ino, p.stat().st_mtime_ns) for p in made.shards if p != missing} == kept
    assert {p.name: p.read_bytes() for p in again.shards} == originals
    assert not stray.exists() and not other_digest.exists() and not other_count.exists()
    assert all(path.read_text() == "the user's" for path in unrelated)
    assert (out / tfr.MANIFEST_NAME).exists()
    assert tfr.open_tfrecords(out).shards == made.shards


def test_interrupted_conversion_leaves_only_whole_shards(tiny_dataset, tmp_path, monkeypatch):
    out = tmp_path / "out"
    read = writer._read_source
    calls = []

    def interrupted(path):
        calls.append(path)
        if len(calls) == 7:  # the first image of shard 2
            raise KeyboardInterrupt
        return read(path)

    monkeypatch.setattr(writer, "_read_source", interrupted)
    with pytest.raises(KeyboardInterrupt):
        tfr.convert(tiny_dataset, out, shards=4, progress=False, workers=1)
    monkeypatch.setattr(writer, "_read_source", read)
    # shards 0 and 1 (3 images each) were renamed whole; shard 2 was in progress: its temporary file is gone
    names = sorted(p.name for p in out.iterdir() if not p.name.startswith(".tfrecord.lock"))
    assert names == [f"train-{tfr.source_digest(tiny_dataset)[:12]}-{i:05d}-of-00004.tfrecord" for i in (0, 1)]
    with pytest.raises(DatasetError, match="no TFRecord manifest"):
        tfr.open_tfrecords(out)

    again = tfr.convert(tiny_dataset, out, shards=4, progress=False)
    assert again.written == 2
    fresh = tfr.convert(tiny_dataset, tmp_path / "fresh", shards=4, progress=False)
    assert [p.read_bytes() for p in again.shards] == [p.read_bytes() for p in fresh.shards]


def test_a_corrupt_shard_is_reported_by_name(tiny_dataset, tmp_path):
    made = tfr.convert(tiny_dataset, tmp_path / "out", progress=False)
    shard = made.shards[1]
    damage(shard)
    with pytest.raises(DatasetError, match=f"corrupt TFRecord shard: .*{shard.name}") as error:
        tfr.open_tfrecords(made.folder)
    assert "python -m pipelines.datasets.shards" in str(error.value)
    assert str(tiny_dataset.root.resolve()) in str(error.value)


def test_a_damaged_record_length_is_reported_as_corrupt_not_misread(tiny_dataset, tmp_path):
    made = tfr.convert(tiny_dataset, tmp_path / "out", progress=False)
    shard = made.shards[0]
    damage(shard, offset=3)  # the first record's length: the framing no longer adds up
    with pytest.raises(DatasetError, match=f"corrupt TFRecord shard: .*{shard.name}"):
        tfr.open_tfrecords(made.folder)
    with pytest.raises(DatasetError, match=f"ends inside a record: .*{shard.name}"):
        tfr.count_records(shard)


def test_a_truncated_shard_is_reported_by_name(tiny_dataset, tmp_path):
    made = tfr.convert(tiny_dataset, tmp_path / "out", progress=False)
    shard = made.shards[4]
    shard.write_bytes(shard.read_bytes()[:-100])
    with pytest.raises(DatasetError, match=f"truncated or changed: .*{shard.name}"):
        tfr.open_tfrecords(made.folder)


def test_a_missing_shard_or_manifest_is_reported_by_name(tiny_dataset, tmp_path):
    made = tfr.convert(tiny_dataset, tmp_path / "out", progress=False)
    made.shards[7].unlink()
    with pytest.raises(DatasetError, match=f"shard missing: .*{made.shards[7].name}"):
        tfr.open_tfrecords(made.folder)
    (made.folder / tfr.MANIFEST_NAME).unlink()
    with pytest.raises(DatasetError, match=f"no TFRecord manifest .*{tfr.MANIFEST_NAME}"):
        tfr.open_tfrecords(made.folder)
    (made.folder / tfr.MANIFEST_NAME).write_text("{not json")
    with pytest.raises(DatasetError, match=f"damaged or outdated TFRecord manifest .*{tfr.MANIFEST_NAME}"):
        tfr.open_tfrecords(made.folder)


def test_a_manifest_cannot_point_outside_its_folder(tiny_dataset, tmp_path):
    made = tfr.convert(tiny_dataset, tmp_path / "out", progress=False)
    path = made.folder / tfr.MANIFEST_NAME
    manifest = json.loads(path.read_text())
    manifest["shards"][0]["name"] = "../" + manifest["shards"][0]["name"]
    path.write_text(json.dumps(manifest))
    with pytest.raises(DatasetError, match="damaged or outdated"):
        tfr.open_tfrecords(made.folder)


def test_ensure_repairs_only_the_damaged_shard(tiny_dataset, tmp_path):
    made = tfr.ensure_tfrecords(tiny_dataset, root=tmp_path, progress=False)
    good = made.shards[6].read_bytes()
    damage(made.shards[6])
    kept = {p: p.stat().st_mtime_ns for p in made.shards if p != made.shards[6]}
    said = f"1 of 8 TFRecord shards written again .*checksum differs .*{made.shards[6].name}"
    with pytest.warns(tfr.ShardsRewrittenWarning, match=said):
        repaired = tfr.ensure_tfrecords(tiny_dataset, root=tmp_path, progress=False)
    assert repaired.written == 1 and made.shards[6].read_bytes() == good
    assert {p: p.stat().st_mtime_ns for p in kept} == kept


def test_ensure_names_every_shard_it_writes_again_and_why(tiny_dataset, tmp_path):
    """a first conversion and a reuse say nothing; a repair names each shard written again with its reason"""
    with warnings.catch_warnings():
        warnings.simplefilter("error", tfr.ShardsRewrittenWarning)
        made = tfr.ensure_tfrecords(tiny_dataset, root=tmp_path, progress=False)
        tfr.ensure_tfrecords(tiny_dataset, root=tmp_path, progress=False)
    missing, short, corrupt = made.shards[1], made.shards[4], made.shards[6]
    size = short.stat().st_size
    missing.unlink()
    short.write_bytes(short.read_bytes()[:-5])
    damage(corrupt)
    with pytest.warns(tfr.ShardsRewrittenWarning) as caught:
        repaired = tfr.ensure_tfrecords(tiny_dataset, root=tmp_path, progress=False)
    assert repaired.written == 3 and dict(repaired.rewritten) == {
        missing.name: "missing",
        short.name: f"size differs ({size - 5:,} bytes, the manifest recorded {size:,})",
        corrupt.name: "checksum differs (its sha256 is not the one tfrecord.json recorded)"}
    line = str(caught[0].message)
    assert line.startswith(f"3 of 8 TFRecord shards written again in {made.folder} -- ")
    assert f"missing: {missing.name}" in line and f"size differs ({size - 5:,} bytes" in line
    assert f"checksum differs (its sha256 is not the one tfrecord.json recorded): {corrupt.name}" in line

    (made.folder / tfr.MANIFEST_NAME).unlink()  # only the manifest lost: every shard kept, and said so
    with pytest.warns(tfr.ShardsRewrittenWarning, match="manifest written again .*all 8 shards checked and kept"):
        assert tfr.ensure_tfrecords(tiny_dataset, root=tmp_path, progress=False).written == 0


def test_a_conversion_of_another_plan_is_named_as_the_reason(own_tiny_dataset, tmp_path):
    """into a folder the converter wrote with another shard count or source (the command line's OUT)"""
    out = tmp_path / "out"
    tfr.convert(own_tiny_dataset, out, shards=4, progress=False)
    made = tfr.convert(own_tiny_dataset, out, progress=False)  # the default 8 shards
    assert made.written == 8 and {why for _, why in made.rewritten} == {
        "other plan (the last conversion wrote 4 shards)"}
    assert tfr.rewritten_line(made, shown=3).endswith(f"{made.shards[2].name} and 5 more")  # names, then a count
    path = own_tiny_dataset.paths[4]
    os.utime(path, ns=(path.stat().st_atime_ns, path.stat().st_mtime_ns + 10**9))
    changed = tfr.convert(own_tiny_dataset, out, progress=False)
    assert {why for _, why in changed.rewritten} == {"other plan (the dataset changed since the last conversion)"}


def test_shard_count_is_checked(tiny_dataset, tmp_path):
    for bad in (0, 12):
        with pytest.raises(ValueError, match="shards must be between 1 and 11"):
            tfr.convert(tiny_dataset, tmp_path / "out", shards=bad, progress=False)
    one = tfr.convert(tiny_dataset, tmp_path / "one", shards=1, progress=False)
    assert [tfr.count_records(p) for p in one.shards] == [11]


def test_command_line_converts_and_reports(tiny_dataset, tmp_path, capsys):
    out = tmp_path / "out"
    assert shards_cli.main([str(tiny_dataset.root), str(out), "--shards", "3", "--no-progress"]) == 0
    line = capsys.readouterr().out.strip()
    assert line.startswith("wrote 3 of 3 shards: 11 images in 3 classes") and str(out) in line
    assert "of TFRecords for" in line and "of image files" in line
    assert tfr.open_tfrecords(out).images == 11
    assert shards_cli.main([str(tiny_dataset.root), str(out), "--shards", "3", "--no-progress"]) == 0
    assert capsys.readouterr().out.startswith("reused all 3 shards")
    damage(out / tfr.open_tfrecords(out).shards[2].name)
    assert shards_cli.main([str(tiny_dataset.root), str(out), "--shards", "3", "--no-progress"]) == 0
    first, second = capsys.readouterr().out.splitlines()
    assert first.startswith(f"1 of 3 TFRecord shards written again in {out} -- checksum differs")
    assert second.startswith("wrote 1 of 3 shards")


def test_command_line_default_folder_is_the_loaders(tiny_dataset, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("LOADERBENCH_DATA", str(tmp_path))
    assert shards_cli.main([str(tiny_dataset.root), "--no-progress"]) == 0
    assert str(tfr.tfrecord_folder(tiny_dataset, tmp_path)) in capsys.readouterr().out
    assert tfr.ensure_tfrecords(tiny_dataset, progress=False).written == 0


def test_command_line_rejects_a_missing_folder(tmp_path, capsys):
    for wrong in ([str(tmp_path / "nowhere"), str(tmp_path / "out")], [str(tmp_path), str(tmp_path / "out"),
                                                                       "--shards", "0"]):
        with pytest.raises(SystemExit) as refused:
            shards_cli.main(wrong)
        assert refused.value.code == 2
    error = capsys.readouterr().err
    assert f"argument SOURCE: no such folder: {tmp_path / 'nowhere'}" in error
    assert "argument --shards: a whole number of at least 1, got '0'" in error
    assert shards_cli.main([str(tmp_path), str(tmp_path / "out")]) == 2  # no class folders
    assert "no class folders" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()
