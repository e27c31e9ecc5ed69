"""The benchmark ids users' saved runs are keyed by stay what they were: ``--benchmark-compare`` and the gate
match cases across runs by id, so a rename or a move that changed one would silently drop it from every
comparison with older runs. ``tests/data/case_ids_*.txt`` hold the ids as pytest collects them; a case added
on purpose is added there too."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers import bench_in_process

#: ``pytester``: the benchmark runs that stop at start or only collect run in this process (tests/helpers.py).
pytest_plugins = ("pytester",)

DATA = Path(__file__).parent / "data"


@pytest.mark.parametrize(("group", "options"), [("default", ()), ("extended", ("--extended",))])
def test_collected_case_ids_are_the_saved_ones(pytester, monkeypatch, tmp_path: Path, group: str,
                                               options: tuple[str, ...]):
    done = bench_in_process(pytester, monkeypatch, tmp_path, "--collect-only", *options)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    collected = [line for line in done.stdout.splitlines() if "::" in line]
    saved = (DATA / f"case_ids_{group}.txt").read_text().split()
    assert collected == saved
