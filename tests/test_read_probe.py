"""The read probe (:mod:`pipelines.caches.read_probe`): every count of readers measured on files no other
measurement read, and a folder it cannot use named with exit 2."""

from __future__ import annotations

import pytest

from pipelines.caches.read_probe import ProbeSettings, draws, main, probe


def test_draws_are_disjoint_and_of_the_size_asked(tiny_dataset) -> None:
    chosen = draws(tiny_dataset.paths, 3, 3, seed=1)
    assert [len(d) for d in chosen] == [3, 3, 3]
    flat = [p for d in chosen for p in d]
    assert len(set(flat)) == len(flat) and set(flat) <= set(tiny_dataset.paths)


def test_too_few_files_share_the_dataset_out_evenly(tiny_dataset) -> None:
    chosen = draws(tiny_dataset.paths, 4, 100, seed=1)  # 11 files: 2 each
    flat = [p for d in chosen for p in d]
    assert [len(d) for d in chosen] == [2, 2, 2, 2] and len(set(flat)) == 8


def test_every_count_is_measured_every_round(tiny_dataset) -> None:
    rates = probe(tiny_dataset.paths, ProbeSettings(readers=(1, 3), files=2, rounds=2, seed=0))
    assert [r.readers for r in rates] == [1, 3]
    assert all(len(r.rates) == 2 and all(b.files == 2 and b.read_bps > 0 for b in r.rates) for r in rates)
    assert "files/s" in rates[0].line() and "reader" in rates[1].line()


def test_the_command_prints_a_line_per_count(tiny_dataset, capsys) -> None:
    assert main([str(tiny_dataset.root), "--readers", "1,2", "--files", "2", "--repeats", "1"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert len(out) == 3 and out[1].lstrip().startswith("1 reader") and out[2].lstrip().startswith("2 readers")


def test_a_missing_folder_is_named_and_exits_2(tmp_path, capsys) -> None:
    with pytest.raises(SystemExit) as exited:
        main([str(tmp_path / "nowhere")])
    assert exited.value.code == 2 and "no such folder" in capsys.readouterr().err


def test_a_folder_that_is_no_dataset_is_named_and_exits_2(tmp_path, capsys) -> None:
    assert main([str(tmp_path)]) == 2
    assert str(tmp_path) in capsys.readouterr().err


@pytest.mark.parametrize("text", ["0", "a,b", "", "2,-1"])
def test_reader_counts_must_be_positive_integers(tiny_dataset, text, capsys) -> None:
    with pytest.raises(SystemExit) as exited:
        main([str(tiny_dataset.root), "--readers", text])
    assert exited.value.code == 2
    assert "argument --readers: comma-separated whole numbers" in capsys.readouterr().err


def test_the_probe_starts_without_tensorflow():
    """a storage question answered in a second: importing the probe does not start TensorFlow (seconds, and its
    threads)"""
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-c", "import sys, pipelines.caches.read_probe; "
                           "sys.exit('tensorflow' in sys.modules)"], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
