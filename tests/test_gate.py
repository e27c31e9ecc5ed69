"""The regression gate: its statistics on synthetic rounds, its messages, the seeded regression, and its own
end-to-end proof (the one place a timing decides a test, sized so that noise cannot flip it: see
:func:`test_gate_fails_a_seeded_regression_and_passes_an_unchanged_rerun`)."""

from __future__ import annotations

import configparser
import json
import os
import re
import shlex
import statistics
import subprocess
import sys
import time
from contextlib import ExitStack
from pathlib import Path

import numpy as np
import pytest

from pipelines import ab
from pipelines.config import GATE_PYTEST_ARGS, REGRESSION_GATE, Contract, GateSettings
from pipelines.datasets import prepare_dataset
from pipelines.gate import (
    CaseRounds,
    GateError,
    RunRounds,
    compare_case,
    compare_runs,
    format_result,
    load_run,
    pooled,
)
from pipelines.loaders import open_pipeline
from pipelines.loaders.seeded import REGRESSION_VARIABLE, extra_pass_flags, seeded_fraction
from pipelines.measure import DecodeLimit, run_epoch
from tests.conftest import SMALL_CONTRACT
from tests.test_loaders import epoch_arrays

ROOT = Path(__file__).resolve().parents[1]
IDENTITY = {"cpu_model": "AMD EPYC", "cpu_count": "2", "tensorflow": "2.21.0", "python": "3.11"}
#: Fewer resamples than the default: the interval is printed, never decides, and tests run hundreds of them.
FAST = GateSettings(resamples=200)


#: Round-to-round noise (standard deviation) of cases and of the paired reference, as measured in the README's
#: campaign: 3.6% and 4.1% at the median over 184 cases' rounds.
ROUND_NOISE = 0.04


def rounds(rng: np.random.Generator, median: float = 0.1, noise: float = ROUND_NOISE, n: int = 7,
           drift: float = 1.0, probe: float = 0.03) -> CaseRounds:
    """Rounds of a case with multiplicative noise, and paired reference rounds; ``drift`` slows both alike."""
    seconds = median * drift * (1 + noise * rng.standard_normal(n))
    paired = probe * drift * (1 + noise * rng.standard_normal(n))
    return CaseRounds("tfdata-none-uint8-warm", tuple(seconds), tuple(paired))


def run_of(cases: dict[str, CaseRounds], **identity) -> RunRounds:
    return RunRounds("synthetic", {**IDENTITY, **identity}, cases)


def test_a_known_slowdown_is_detected_and_named():
    rng = np.random.default_rng(1)
    base, head = rounds(rng), rounds(rng, median=0.118)  # 18% slower
    verdict = compare_case(base, head, FAST, cases=8)
    assert verdict.regressed and verdict.normalised
    assert 1.1 < verdict.ratio < 1.3 and verdict.low < verdict.ratio < verdict.high
    line = verdict.describe(FAST)
    assert "tfdata-none-uint8-warm" in line and f"{verdict.ratio:.3f}x" in line and "1.10x" in line and "CI" in line


def test_unchanged_rounds_pass_at_the_stated_false_alarm_rate():
    """Same distribution on both sides, 8 cases a comparison, rounds as noisy as measured here: the rank test
    reads the rounds as timed, so with the threshold off it cries wolf on at most ``alpha`` of the comparisons
    (Bonferroni over the cases); the threshold, applied to the normalised medians, only removes alarms."""
    rng = np.random.default_rng(2)
    trials, cases = 300, 8
    rank_only = GateSettings(threshold=0.0, resamples=20)
    rank_alarms = gate_alarms = 0
    for _ in range(trials):
        base = run_of({f"case{i}": rounds(rng) for i in range(cases)})
        head = run_of({f"case{i}": rounds(rng) for i in range(cases)})
        rank_alarms += bool(compare_runs(base, head, rank_only).regressed)
        gate_alarms += bool(compare_runs(base, head, GateSettings(resamples=20)).regressed)
    # binomial(300, 0.01): mean 3, P(X > 9) < 1e-3
    assert rank_alarms <= 9, f"{rank_alarms} false alarms in {trials} comparisons at alpha {rank_only.alpha}"
    assert gate_alarms <= rank_alarms


def test_normalisation_cancels_drift_that_slows_the_whole_machine():
    rng = np.random.default_rng(3)
    base, head = rounds(rng, noise=0.02), rounds(rng, noise=0.02, drift=1.3)  # everything 30% slower
    assert not compare_case(base, head, FAST).regressed
    assert compare_case(base, head, FAST).ratio == pytest.approx(1.0, abs=0.05)
    raw = CaseRounds(base.case, base.seconds), CaseRounds(head.case, head.seconds)
    assert compare_case(*raw, FAST).regressed  # without the paired reference the drift reads as a regression


def test_a_baseline_from_another_machine_is_refused_or_warned_about():
    rng = np.random.default_rng(4)
    base, head = run_of({"a": rounds(rng)}), run_of({"a": rounds(rng)}, cpu_count="4", tensorflow="2.22.0")
    with pytest.raises(GateError, match=r"cpu_count: 2 -> 4; tensorflow: 2.21.0 -> 2.22.0.*bench-baseline"):
        compare_runs(base, head, FAST)
    warned = compare_runs(base, head, GateSettings(mismatch="warn", resamples=200))
    assert "WARNING: baseline from another machine or software: cpu_count: 2 -> 4" in format_result(warned, FAST, "b")


def test_missing_or_foreign_baseline_gets_a_one_line_instruction(tmp_path):
    with pytest.raises(GateError, match=r"^no baseline at .*: save one first with `tox -e bench-baseline`$"):
        load_run(tmp_path / "baseline.json")
    (tmp_path / "other.json").write_text(json.dumps({"hello": 1}))
    with pytest.raises(GateError, match="not a pytest-benchmark JSON"):
        load_run(tmp_path / "other.json")
    (tmp_path / "old.json").write_text(json.dumps({"benchmarks": [{"extra_info": {"case": "x"}}]}))
    with pytest.raises(GateError, match="save a new baseline"):
        load_run(tmp_path / "old.json")


def test_pooled_sides_keep_every_round_and_drop_pairing_only_when_a_run_lacks_it():
    a = CaseRounds("c", (1.0, 2.0), (0.5, 0.5))
    b = CaseRounds("c", (3.0,), (0.5,))
    both = pooled([run_of({"c": a}), run_of({"c": b})], "side")
    assert both.cases["c"].seconds == (1.0, 2.0, 3.0) and both.cases["c"].normalisable
    mixed = pooled([run_of({"c": a}), run_of({"c": CaseRounds("c", (3.0,))})], "side")
    assert mixed.cases["c"].seconds == (1.0, 2.0, 3.0) and not mixed.cases["c"].normalisable
    drifted = CaseRounds("c", (2.0, 4.0), (1.0, 1.0))  # a run on a machine twice as slow: probe twice as slow too
    pooled_runs = pooled([run_of({"c": a}), run_of({"c": drifted})], "side").cases["c"]
    np.testing.assert_allclose(pooled_runs.samples(True), [2.0, 4.0, 2.0, 4.0])  # each run by its own reference


def test_ab_alternates_sides_and_checks_its_input():
    assert ab.order(3) == [0, 1, 1, 0, 0, 1]
    args = ab.build_parser().parse_args(["--base-rev", "main", "--", "--images", "60"])
    assert args.mismatch == "warn"  # both sides on this machine: another TensorFlow is the question asked
    assert args.base_rev == "main" and "--images" in args.pytest_args
    assert ab.parse_env(["A=1", "B=x=y"]) == {"A": "1", "B": "x=y"}
    with pytest.raises(GateError, match="NAME=VALUE"):
        ab.parse_env(["oops"])
    with pytest.raises(GateError, match="cannot check out 'no-such-revision-xyz'"):
        with ab.worktree("no-such-revision-xyz", ROOT):
            pass


def test_seeded_regression_variable_is_parsed_per_loader(monkeypatch):
    monkeypatch.setenv(REGRESSION_VARIABLE, "tfdata=0.25,*=0.1")
    assert seeded_fraction("tfdata") == 0.25 and seeded_fraction("kerasdir") == 0.1
    for wrong in ("tfdata=lots", "tfdata=1.5"):
        monkeypatch.setenv(REGRESSION_VARIABLE, wrong)
        with pytest.raises(ValueError, match=r"loader=fraction with a fraction in \[0, 1\]"):
            seeded_fraction("tfdata")
    monkeypatch.delenv(REGRESSION_VARIABLE)
    assert seeded_fraction("tfdata") == 0.0


def test_seeded_regression_decodes_exactly_the_asked_share_again():
    flags = extra_pass_flags(300, 0.15)
    assert sum(flags) == 45 and max(map(len, "".join("x" if f else " " for f in flags).split())) == 1
    assert sum(extra_pass_flags(11, 1.0)) == 11 and not any(extra_pass_flags(11, 0.0))


def test_seeded_regression_changes_no_pixel_or_label(tiny_dataset, monkeypatch):
    (plain_x, plain_y), = epoch_arrays("tfdata", tiny_dataset, SMALL_CONTRACT)
    monkeypatch.setenv(REGRESSION_VARIABLE, "tfdata=1.0")
    (seeded_x, seeded_y), = epoch_arrays("tfdata", tiny_dataset, SMALL_CONTRACT)
    np.testing.assert_array_equal(seeded_x, plain_x)
    np.testing.assert_array_equal(seeded_y, plain_y)


@pytest.mark.slow
def test_seeded_regression_adds_the_asked_share_of_the_decode_path(tmp_path_factory, monkeypatch):
    """``tfdata=0.5`` reads, decodes and resizes half the images again: the CPU an epoch gains is a known share
    of one pass of the decode path over every image (:class:`~pipelines.measure.DecodeLimit`).

    CPU seconds, not wall seconds (the work, not when it ran), alternated over 5 rounds each. Measured on the
    smoke shape here: 0.30-0.35 of a pass, not 0.5, because a decode pass also pays what the second pass skips
    (rounding to uint8, tf.data's per-element costs). Bounds 0.2-0.5 (0.4-1.0 x the asked share) leave room for
    this VM's round-to-round CPU noise (about 10%) while failing a seed that adds nothing or double."""
    index = prepare_dataset(None, "smoke", 96, 0, tmp_path_factory.mktemp("seeded"), progress=False)
    contract = Contract().with_(cache="none", placement="uint8")
    limit = DecodeLimit(index, contract)
    pipelines = {}
    with ExitStack() as stack:
        for share in ("0", "0.5"):
            monkeypatch.setenv(REGRESSION_VARIABLE, f"tfdata={share}")
            pipelines[share] = stack.enter_context(open_pipeline("tfdata", index, contract))
            run_epoch(pipelines[share])
        cpu: dict[str, list[float]] = {"0": [], "0.5": [], "pass": []}
        for _ in range(5):
            for name, work in (("0", lambda: run_epoch(pipelines["0"])), ("0.5", lambda: run_epoch(pipelines["0.5"])),
                               ("pass", limit.run)):
                start = time.process_time()
                for _ in range(5):
                    work()
                cpu[name].append((time.process_time() - start) / 5)
    added = statistics.median(cpu["0.5"]) - statistics.median(cpu["0"])
    share = added / statistics.median(cpu["pass"])
    print(f"seeded 0.5 added {share:.2f} of a decode pass's CPU; wall-clock epochs not measured here")
    assert 0.2 < share < 0.5, f"seeded 0.5 added {share:.2f} of a decode pass's CPU ({cpu})"


def test_tox_gate_runs_the_gate_selection_and_the_documented_compare():
    tox = configparser.ConfigParser(interpolation=None)
    tox.read(ROOT / "tox.ini")
    assert tox["gate"]["args"] == shlex.join(GATE_PYTEST_ARGS)
    for env in ("bench-baseline", "bench-gate"):
        assert "{[gate]args}" in tox[f"testenv:{env}"]["commands"], f"{env} must run the gate's selection"
    assert f"--benchmark-compare-fail={REGRESSION_GATE}" in tox["testenv:bench-gate"]["commands"]
    assert "--gate-baseline" in tox["testenv:bench-gate"]["commands"]
    assert REGRESSION_GATE in (ROOT / "README.md").read_text()


def test_ci_recipe_calls_tox_envs_that_exist():
    tox = configparser.ConfigParser(interpolation=None)
    tox.read(ROOT / "tox.ini")
    workflow = (ROOT / "examples" / "github-actions" / "loaderbench-gate.yml").read_text()
    called = set(re.findall(r"tox -e ([\w-]+)", workflow))
    assert {"bench-gate", "bench-baseline", "bench-ab"} <= called
    assert all(f"testenv:{env}" in tox for env in called), called


# --- the end-to-end proof -------------------------------------------------------------------------------------

CASE = "tfdata-none-uint8-warm"
#: Every image decoded twice: measured 1.55-1.59x on this case's epochs here (both gates' ratios), against
#: unchanged reruns within 10%: a seeded run cannot pass the 1.10x or the 1.25x gate, an unchanged one cannot
#: reach 1.25x.
PROOF_SEED = "tfdata=1.0"


def _bench(tmp_path: Path, extra: list[str], seed: str | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "LOADERBENCH_DATA": str(tmp_path / "data")}
    env.pop(REGRESSION_VARIABLE, None)
    if seed:
        env[REGRESSION_VARIABLE] = seed
    command = [sys.executable, "-m", "pytest", "benchmarks/test_throughput.py", "-p", "no:cacheprovider",
               "-k", CASE, "--images", "96", "--rounds", "7", "--min-round-s", "0.3", "--batch-size", "8",
               "--paired-reference", f"--benchmark-storage=file://{tmp_path / 'storage'}", *extra]
    return subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)


@pytest.mark.slow
def test_gate_fails_a_seeded_regression_and_passes_an_unchanged_rerun(tmp_path):
    baseline = tmp_path / "baseline.json"
    saved = _bench(tmp_path, [f"--benchmark-json={baseline}", "--benchmark-save=baseline"])
    assert saved.returncode == 0, saved.stdout[-3000:]
    gate = [f"--gate-baseline={baseline}", "--benchmark-compare", f"--benchmark-compare-fail={REGRESSION_GATE}"]

    unchanged = _bench(tmp_path, gate)
    assert unchanged.returncode == 0, unchanged.stdout[-3000:]
    assert "gate passed: no case regressed" in unchanged.stdout

    seeded = _bench(tmp_path, gate, seed=PROOF_SEED)
    output = seeded.stdout + seeded.stderr
    print(output[output.find("loaderbench gate against"):][:1500])
    assert seeded.returncode == 1, output[-3000:]
    assert f"REGRESSED {CASE}: " in output  # the loaderbench gate names the case, ratio, interval, threshold
    assert "Performance has regressed" in output and f"test_throughput[{CASE}]" in output  # pytest-benchmark's

    missing = _bench(tmp_path, [f"--gate-baseline={tmp_path / 'none.json'}"])
    assert missing.returncode == 4 and "save one first with `tox -e bench-baseline`" in missing.stdout
