"""The file cache's reread check (:mod:`pipelines.study.file_reread`): a synthetic cache of the stated bytes,
read back by the pipeline and a plain read in the stated turns, each pass counted, nothing left behind."""

from __future__ import annotations

import pytest

from pipelines.limits.cgroup import CgroupUnavailable, Limits
from pipelines.limits.make import make_cgroup
from pipelines.study.file_reread import RereadSettings, main, reread

MB = 10**6


def test_passes_alternate_limited_and_unlimited_and_close_on_a_limited_one():
    assert RereadSettings(ram_limit=None, turns=2).passes() == [False, False]
    assert RereadSettings(ram_limit=MB, turns=1).passes() == [True, False, True]
    assert RereadSettings(images=10, image_size=(4, 5)).cache_bytes == 10 * 4 * 5 * 3
    with pytest.raises(ValueError, match="at least 1"):
        RereadSettings(images=0)


def test_a_small_cache_is_written_read_back_both_ways_and_removed(tmp_path):
    settings = RereadSettings(images=40, image_size=(16, 16), cache_dir=tmp_path)
    passes = list(reread(settings))
    assert [p.how for p in passes] == ["pipeline", "plain read"]
    assert all(p.cache_bytes >= settings.cache_bytes and p.seconds > 0 and not p.limited for p in passes)
    assert "no limit, evicted first" in passes[0].line(None)
    assert list(tmp_path.iterdir()) == []  # the cache's scratch folder is gone


def test_under_a_limit_each_limited_pass_runs_in_a_cgroup_that_is_removed(tmp_path, capsys):
    try:
        make_cgroup(Limits(memory_bytes=2000 * MB), watch=False).remove()
    except CgroupUnavailable as error:
        pytest.skip(f"no cgroup here: {error}")
    assert main(["--images", "40", "--ram-limit", "2GB", "--cache-dir", str(tmp_path)]) == 0
    lines = capsys.readouterr().out.splitlines()[1:]
    assert len(lines) == 6 and sum("under 2.0 GB, after a warm-up" in line for line in lines) == 2
    assert list(tmp_path.iterdir()) == []


def test_a_cache_larger_than_the_free_disk_is_refused_before_anything_is_written(tmp_path, capsys):
    assert main(["--images", str(10**9), "--cache-dir", str(tmp_path)]) == 2
    assert "is free in" in capsys.readouterr().err and list(tmp_path.iterdir()) == []
