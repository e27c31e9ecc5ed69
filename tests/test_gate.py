"""The regression gate's own proof: a seeded slowdown fails the compare and names the case; an unchanged rerun
passes. The one place a timing decides a test, sized so noise cannot flip it: unchanged reruns of this case's
fastest round differed by up to 15% here (6 runs), under the 25% gate; the seeded slowdown is 60%, so even a
lucky slowed run against an unlucky baseline is 1.6 / 1.15 = 1.39x slower, past the gate. A 25% slowdown is
below this VM's noise floor between separate runs (README, "Regression gate")."""

from __future__ import annotations

import configparser
import os
import subprocess
import sys
from pathlib import Path

import pytest

from pipelines.config import REGRESSION_GATE
from pipelines.loaders.pipeline import SLOWDOWN_VARIABLE, injected_slowdown

ROOT = Path(__file__).resolve().parents[1]
CASE = "tfdata-none-uint8-warm"


def _run(tmp_path: Path, extra: list[str], slowdown: str | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "LOADERBENCH_DATA": str(tmp_path / "data")}
    env.pop(SLOWDOWN_VARIABLE, None)
    if slowdown:
        env[SLOWDOWN_VARIABLE] = slowdown
    command = [sys.executable, "-m", "pytest", "benchmarks/test_throughput.py", "-p", "no:cacheprovider",
               "-k", CASE, "--images", "60", "--rounds", "9", "--batch-size", "8",
               f"--benchmark-storage=file://{tmp_path / 'storage'}", *extra]
    return subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)


@pytest.mark.slow
def test_seeded_slowdown_fails_the_gate_and_an_unchanged_rerun_passes(tmp_path):
    baseline = _run(tmp_path, ["--benchmark-save=baseline"])
    assert baseline.returncode == 0, baseline.stdout[-3000:]
    gate = ["--benchmark-compare", f"--benchmark-compare-fail={REGRESSION_GATE}"]

    unchanged = _run(tmp_path, gate)
    assert unchanged.returncode == 0, unchanged.stdout[-3000:]

    slowed = _run(tmp_path, gate, slowdown="tfdata=0.6")
    assert slowed.returncode != 0, slowed.stdout[-3000:]
    assert "Performance has regressed" in slowed.stdout + slowed.stderr
    assert f"test_throughput[{CASE}]" in slowed.stdout + slowed.stderr


def test_slowdown_variable_is_parsed_per_loader(monkeypatch):
    monkeypatch.setenv(SLOWDOWN_VARIABLE, "tfdata=0.25,*=0.1")
    assert injected_slowdown("tfdata") == 0.25 and injected_slowdown("idg") == 0.1
    monkeypatch.setenv(SLOWDOWN_VARIABLE, "tfdata=lots")
    with pytest.raises(ValueError, match="loader=fraction"):
        injected_slowdown("tfdata")
    monkeypatch.delenv(SLOWDOWN_VARIABLE)
    assert injected_slowdown("tfdata") == 0.0


def test_tox_gate_uses_the_documented_threshold():
    tox = configparser.ConfigParser(interpolation=None)
    tox.read(ROOT / "tox.ini")
    assert f"--benchmark-compare-fail={REGRESSION_GATE}" in tox["testenv:bench-gate"]["commands"]
    assert REGRESSION_GATE in (ROOT / "README.md").read_text()
