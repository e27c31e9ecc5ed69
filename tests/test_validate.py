"""A user's folder is checked before timing: each fault gives a clear error naming the path."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from pipelines.datasets import DatasetError, index_dataset, prepare_dataset, validate_dataset
from pipelines.datasets.__main__ import main as datasets_cli


def _image(path: Path, mode: str = "RGB", fmt: str = "JPEG", size=(20, 16)) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    pixels = np.random.default_rng(len(str(path))).integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
    Image.fromarray(pixels).convert(mode).save(path, format=fmt)
    return path


@pytest.fixture()
def folder(tmp_path: Path) -> Path:
    root = tmp_path / "mine"
    _image(root / "a" / "1.jpg")
    _image(root / "b" / "2.jpg")
    return root


def test_good_folder_is_indexed_in_keras_order(folder):
    _image(folder / "a" / "0.jpg")
    _image(folder / "a" / "sub" / "3.jpg")
    index = validate_dataset(folder, progress=False)
    assert index.class_names == ("a", "b")
    assert [p.relative_to(folder).as_posix() for p in index.paths] == ["a/0.jpg", "a/1.jpg", "a/sub/3.jpg", "b/2.jpg"]
    assert index.labels == (0, 0, 0, 1)


def test_missing_folder(tmp_path):
    with pytest.raises(DatasetError, match=f"does not exist: {tmp_path / 'nope'}"):
        validate_dataset(tmp_path / "nope")


def test_path_is_a_file(tmp_path):
    (tmp_path / "f.jpg").write_bytes(b"x")
    with pytest.raises(DatasetError, match="not a folder"):
        validate_dataset(tmp_path / "f.jpg")


def test_no_class_folders(tmp_path):
    _image(tmp_path / "loose.jpg")
    with pytest.raises(DatasetError, match=f"no class folders in {tmp_path}"):
        validate_dataset(tmp_path)


def test_empty_class(folder):
    (folder / "c").mkdir()
    with pytest.raises(DatasetError, match=f"class folder has no images: {folder / 'c'}"):
        validate_dataset(folder)


def test_non_image_file(folder):
    (folder / "a" / "notes.txt").write_text("hi")
    with pytest.raises(DatasetError, match=f"not an image file: {folder / 'a' / 'notes.txt'}"):
        validate_dataset(folder)


def test_hidden_non_images_are_skipped_and_hidden_images_read_as_keras_does(folder):
    (folder / "a" / ".DS_Store").write_bytes(b"\0")
    (folder / ".cache").mkdir()
    _image(folder / "a" / ".ipynb_checkpoints" / "5.jpg")
    index = index_dataset(folder)
    assert index.class_names == ("a", "b")
    assert [p.relative_to(folder).as_posix() for p in index.paths] == ["a/1.jpg", "a/.ipynb_checkpoints/5.jpg",
                                                                      "b/2.jpg"]


@pytest.mark.parametrize(
    "content",
    [pytest.param(b"this is text", id="not-an-image"), pytest.param(None, id="truncated-jpeg")],
)
def test_unreadable_image_is_named(folder, content):
    bad = folder / "b" / "bad.jpg"
    data = (folder / "b" / "2.jpg").read_bytes()
    bad.write_bytes(content if content is not None else data[: len(data) // 2])
    with pytest.raises(DatasetError, match=f"(?s)1 unreadable image file.*{bad}"):
        validate_dataset(folder, progress=False)
    assert index_dataset(folder).images == 3  # the shallow index does not decode


@pytest.mark.skipif(hasattr(os, "geteuid") and os.geteuid() == 0, reason="root reads any file")
def test_permission_denied_is_named(folder):
    locked = folder / "a" / "1.jpg"
    locked.chmod(0)
    try:
        with pytest.raises(DatasetError, match="permission denied"):
            validate_dataset(folder, progress=False)
    finally:
        locked.chmod(0o644)


@pytest.mark.parametrize(("name", "mode", "fmt"), [("g.jpg", "L", "JPEG"), ("c.jpg", "CMYK", "JPEG"),
                                                   ("p.png", "RGBA", "PNG"), ("m.bmp", "RGB", "BMP")])
def test_odd_but_valid_images_are_accepted(folder, name, mode, fmt):
    _image(folder / "a" / name, mode, fmt)
    assert validate_dataset(folder, progress=False).images == 3


def test_prepare_dataset_rejects_unknown_preset_and_bad_count(tmp_path):
    with pytest.raises(DatasetError, match="unknown preset 'nope'"):
        prepare_dataset(preset="nope", data_root=tmp_path)
    with pytest.raises(DatasetError, match="--images 2"):
        prepare_dataset(preset="smoke", images=2, data_root=tmp_path)


def test_user_files_are_never_touched(folder):
    before = {p: (p.stat().st_mtime_ns, p.read_bytes()) for p in folder.rglob("*") if p.is_file()}
    validate_dataset(folder, progress=False)
    after = {p: (p.stat().st_mtime_ns, p.read_bytes()) for p in folder.rglob("*") if p.is_file()}
    assert before == after


def test_cli_check_and_generate(tmp_path, folder, capsys):
    assert datasets_cli(["check", str(folder)]) == 0
    assert "ok:" in capsys.readouterr().out
    with pytest.raises(SystemExit) as refused:
        datasets_cli(["check", str(tmp_path / "nope")])
    assert refused.value.code == 2
    assert f"argument PATH: no such folder: {tmp_path / 'nope'}" in capsys.readouterr().err
    assert datasets_cli(["generate", "--images", "6", "--out", str(tmp_path / "gen")]) == 0
    assert "wrote 6 images" in capsys.readouterr().out
    assert datasets_cli(["generate", "--images", "6", "--out", str(tmp_path / "gen")]) == 0
    assert "reused" in capsys.readouterr().out
    shutil.rmtree(tmp_path / "gen")


def test_every_problem_is_reported_in_one_pass(folder):
    """unsupported files, empty classes and unreadable images, all named in one error"""
    (folder / "a" / "notes.txt").write_text("hi")
    (folder / "b" / "labels.csv").write_text("x")
    (folder / "c").mkdir()
    (folder / "b" / "bad.jpg").write_bytes(b"this is text")
    with pytest.raises(DatasetError) as error:
        validate_dataset(folder, progress=False)
    message = str(error.value)
    assert "(2 unsupported file(s), 1 empty class(es), 1 unreadable image file(s))" in message
    for named in (folder / "a" / "notes.txt", folder / "b" / "labels.csv", folder / "c", folder / "b" / "bad.jpg"):
        assert str(named) in message


def test_many_problems_of_one_kind_are_counted_not_all_listed(folder):
    for i in range(13):
        (folder / "a" / f"n{i:02d}.txt").write_text("x")
    with pytest.raises(DatasetError, match=r"(?s)13 unsupported file.*and 3 more like the above"):
        index_dataset(folder)


def test_an_interrupted_generated_dataset_is_reported_incomplete(tmp_path, capsys):
    from pipelines.datasets.presets import Preset
    from pipelines.datasets import generate, read_manifest

    shape = Preset(name="t", images=12, classes=2, sizes=(((40, 30), 1.0),), target_bytes=1500)
    folder = tmp_path / "gen"
    generate(shape, folder, progress=False)
    manifest = read_manifest(folder)
    manifest.__class__(manifest.recipe, complete=False, jpeg_quality=manifest.jpeg_quality,
                       class_names=manifest.class_names).write(folder)  # as a killed run leaves it
    for path in sorted(folder.glob("*/*.jpg"))[5:]:
        path.unlink()
    assert datasets_cli(["check", str(folder)]) == 2
    err = capsys.readouterr().err
    assert "incomplete generated dataset" in err and "5 of 12 images" in err


def test_a_foreign_manifest_json_is_a_users_file_not_a_damaged_dataset(folder):
    """a class-per-folder tree that also holds someone else's ``manifest.json`` is read as the plain tree"""
    (folder / "manifest.json").write_text('{"name": "my-web-app"}')
    index = validate_dataset(folder, progress=False)
    assert index.class_names == ("a", "b") and index.images == 2
    assert (folder / "manifest.json").read_text() == '{"name": "my-web-app"}'


@pytest.mark.slow
def test_a_tree_with_a_foreign_manifest_json_benchmarks_normally(folder, tmp_path):
    """the benchmark run on such a tree times it and leaves every file of it as it was"""
    import subprocess
    import sys

    (folder / "manifest.json").write_text('{"name": "my-web-app"}')
    before = {p: p.read_bytes() for p in folder.rglob("*") if p.is_file()}
    root = Path(__file__).resolve().parents[1]
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "benchmarks/test_throughput.py", "-p", "no:cacheprovider", "-q",
         "-k", "tfdata-none-uint8-warm", "--dataset", str(folder), "--rounds", "1", "--min-round-s", "0",
         "--batch-size", "2", f"--benchmark-storage=file://{tmp_path / 'storage'}"],
        cwd=root, capture_output=True, text=True, timeout=900, env={**os.environ, "LOADERBENCH_DATA": str(tmp_path)})
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    assert "1 passed" in done.stdout
    assert {p: p.read_bytes() for p in folder.rglob("*") if p.is_file()} == before


def test_a_folder_of_one_class_is_refused_naming_it(tmp_path):
    """``datasets check`` of a one-class folder said ``ok: ... 1 classes``; a classifier needs two at least"""
    _image(tmp_path / "only" / "a.jpg", "RGB", "JPEG")
    with pytest.raises(DatasetError, match=r"(?s)1 too few classes.*class folder 'only' is the only one: a classifier "
                                           r"needs two at least"):
        validate_dataset(tmp_path, progress=False)
