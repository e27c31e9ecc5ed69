"""The one removal function: it removes only what a marker proves the suite made, and refuses otherwise."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipelines.cleanup.ownership import Claim, RemovalRefused, marker_text, names_tool, remove_made

CLAIM = Claim("a test folder", ".marker", lambda path: names_tool(path, "test"), lambda rel: rel.suffix == ".bin")


def _made(folder: Path) -> Path:
    (folder / "sub").mkdir(parents=True)
    (folder / ".marker").write_text(marker_text("test"))
    (folder / "a.bin").write_bytes(b"1")
    (folder / "sub" / "b.bin").write_bytes(b"2")
    return folder


def test_a_folder_the_suite_made_is_removed_whole(tmp_path):
    folder = _made(tmp_path / "ours")
    claim = Claim(CLAIM.what, CLAIM.marker, CLAIM.proves, lambda rel: rel.suffix == ".bin" or rel.name == "sub")
    removed = remove_made(folder, claim)
    assert not folder.exists() and removed[-1] == folder.resolve()


@pytest.mark.parametrize("marker", [None, "someone else's .marker\n", marker_text("other-kind")])
def test_without_our_marker_nothing_is_removed(tmp_path, marker):
    folder = tmp_path / "theirs"
    folder.mkdir()
    (folder / "a.bin").write_bytes(b"1")
    if marker is not None:
        (folder / ".marker").write_text(marker)
    with pytest.raises(RemovalRefused, match=rf"refusing to remove anything in {folder}: it has no \.marker"):
        remove_made(folder, CLAIM)
    assert (folder / "a.bin").read_bytes() == b"1"


def test_one_foreign_entry_refuses_the_whole_removal_and_is_named(tmp_path):
    folder = _made(tmp_path / "ours")
    (folder / "sub" / "photo.jpg").write_bytes(b"mine")
    with pytest.raises(RemovalRefused, match=r"sub/photo\.jpg is not something loaderbench writes"):
        remove_made(folder, CLAIM)  # "sub" is not owned either; the first one found is named
    assert (folder / "a.bin").exists() and (folder / "sub" / "photo.jpg").exists()


def test_links_inside_are_never_followed(tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "keep.bin").write_bytes(b"keep")
    folder = tmp_path / "ours"
    folder.mkdir()
    (folder / ".marker").write_text(marker_text("test"))
    (folder / "link.bin").symlink_to(outside / "keep.bin")
    (folder / "dir.bin").symlink_to(outside, target_is_directory=True)
    remove_made(folder, CLAIM)
    assert not folder.exists() and (outside / "keep.bin").read_bytes() == b"keep"


def test_named_files_must_be_inside_and_owned(tmp_path):
    folder = _made(tmp_path / "ours")
    (tmp_path / "elsewhere.bin").write_bytes(b"x")
    with pytest.raises(RemovalRefused, match="outside"):
        remove_made(folder, CLAIM, files=[tmp_path / "elsewhere.bin"])
    with pytest.raises(RemovalRefused, match="not something loaderbench writes"):
        remove_made(folder, CLAIM, files=[folder / "sub"])
    assert remove_made(folder, CLAIM, files=[folder / "a.bin"]) == [(folder / "a.bin").resolve()]
    assert (folder / "sub" / "b.bin").exists() and (tmp_path / "elsewhere.bin").exists()


def test_a_link_to_a_folder_we_made_removes_the_folder_and_the_link(tmp_path):
    folder = _made(tmp_path / "ours")
    link = tmp_path / "link"
    link.symlink_to(folder, target_is_directory=True)
    remove_made(link, Claim(CLAIM.what, CLAIM.marker, CLAIM.proves, lambda rel: True))
    assert not folder.exists() and not link.is_symlink()
