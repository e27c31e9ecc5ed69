"""The gate judges a case only against the same work: the same dataset, contract and model, and every case of the
baseline measured again. Runs that differ there are refused with what differs, never given a verdict -- a case
of the same name timed on five times the images reads as a 3x "regression", or, the other way round, passes."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from pipelines.gate.judge import compare_runs, format_result, main as judge_main
from pipelines.gate.runs import CaseRounds, GateError, RunRounds, load_run, pooled
from pipelines.gate.settings import GateSettings
from tests.helpers import assert_refused_at_start, bench_in_process, bench_run

#: ``pytester``: the benchmark runs that stop at start or only collect run in this process (tests/helpers.py).
pytest_plugins = ("pytester",)

FAST = GateSettings(resamples=200)
IDENTITY = {"cpu_model": "AMD EPYC", "cpu_count": 2, "tensorflow": "2.21.0", "python": "3.11.7"}
CONTRACT = {"image_size": [224, 224], "batch_size": 32, "label_mode": "int", "interpolation": "bilinear",
            "shuffle": True, "seed": 1337, "shuffle_buffer": 1024, "parallelism": None}


def dataset(images: int, seed: int = 0, image_bytes: int = 16_000) -> dict:
    """The ``dataset_info`` keys of the smoke preset at ``images`` images."""
    return {"dataset": f"smoke-{images}-s{seed}", "dataset_images": images, "dataset_bytes": images * image_bytes,
            "dataset_classes": 3}


def record(case: str, median: float, rng: np.random.Generator, **workload) -> dict:
    """A case's ``extra_info`` as the harness writes it: 7 quiet rounds, paired, on ``workload``."""
    name, epoch = case.rsplit("-", 1)
    seconds = median * (1 + 0.02 * rng.standard_normal(7))
    return {**IDENTITY, "case": name, "loader": name.split("-")[0], "epoch": epoch,
            "round_seconds": seconds.tolist(), "paired_seconds": (0.03 * (1 + 0.02 * rng.standard_normal(7))).tolist(),
            "other_cores": 0.0, "steal_cores": 0.0, "available_cores": 2, **workload}


def write_run(path: Path, records: list[dict]) -> Path:
    path.write_text(json.dumps({"benchmarks": [{"name": r["case"], "extra_info": r} for r in records]}))
    return path


def run_on(tmp_path: Path, name: str, cases: dict[str, float], seed: int = 0, **workload) -> RunRounds:
    """A run's JSON written and read back: ``cases`` (id -> median seconds) on ``workload``."""
    rng = np.random.default_rng(seed)
    workload = {**dataset(300), "contract": CONTRACT, **workload}
    return load_run(write_run(tmp_path / f"{name}.json", [record(c, m, rng, **workload) for c, m in cases.items()]))


CASES = {"tfdata-none-uint8-warm": 0.1, "kerasdir-none-uint8-warm": 0.12}


def test_runs_of_another_dataset_are_refused_naming_both_never_judged(tmp_path):
    """the reproduced fault: 300 images judged against a baseline of 60 read 2.96x / 3.18x, or passed"""
    base = run_on(tmp_path, "base", CASES, **dataset(60))
    head = run_on(tmp_path, "head", {key: 5 * m for key, m in CASES.items()}, seed=1, **dataset(300))
    for settings in (FAST, GateSettings(mismatch="warn", resamples=200)):  # warn is for machines, not datasets
        with pytest.raises(GateError, match=r"differ in dataset: smoke-60-s0, 60 images, 960,000 bytes, 3 classes "
                                            r"\(baseline\) vs smoke-300-s0, 300 images, 4,800,000 bytes, 3 classes "
                                            r"\(this run\).*save a new baseline"):
            compare_runs(base, head, settings)
    quicker = run_on(tmp_path, "quick", {key: m / 5 for key, m in CASES.items()}, seed=2, **dataset(60))
    with pytest.raises(GateError, match="differ in dataset"):  # the smaller run against the larger: no pass
        compare_runs(head, quicker, FAST)


@pytest.mark.parametrize(("changed", "words"), [
    ({**dataset(300, seed=1)}, "smoke-300-s1"),
    ({"dataset_bytes": 4_800_001}, "4,800,001 bytes"),
    ({"contract": {**CONTRACT, "batch_size": 8}}, "contract: batch_size 32 (baseline) vs 8 (this run)"),
    ({"contract": {**CONTRACT, "parallelism": 2, "image_size": [160, 160]}},
     "contract: image_size [224, 224] (baseline) vs [160, 160] (this run), parallelism None (baseline) vs 2"),
    ({"model": "mobilenet_0.5"}, "model: model mobilenet_1 (baseline) vs mobilenet_0.5 (this run)"),
])
def test_a_seed_bytes_contract_or_model_that_differs_is_refused_naming_it(tmp_path, changed, words):
    base = run_on(tmp_path, "base", CASES, model="mobilenet_1")
    head = run_on(tmp_path, "head", CASES, seed=1, **{"model": "mobilenet_1", **changed})
    with pytest.raises(GateError) as refused:
        compare_runs(base, head, FAST)
    assert words in str(refused.value) and "save a new baseline with `tox -e bench-baseline`" in str(refused.value)


def test_a_baseline_that_did_not_record_its_contract_is_refused_or_compared_with_a_warning(tmp_path):
    """saved by a loaderbench before cases recorded their contract: nothing says it timed the same work"""
    base = run_on(tmp_path, "base", CASES, contract=None)  # not a mapping: read as not recorded
    head = run_on(tmp_path, "head", CASES, seed=1)
    with pytest.raises(GateError, match=r"contract: not recorded \(baseline\) vs recorded \(this run\)"):
        compare_runs(base, head, FAST)
    warned = compare_runs(base, head, GateSettings(mismatch="warn", resamples=200))
    assert "WARNING: not compared, one side did not record it: contract: not recorded" in format_result(
        warned, FAST, "b")


def test_a_baseline_case_this_run_did_not_measure_is_refused_a_new_one_is_listed_not_judged(tmp_path):
    base = run_on(tmp_path, "base", CASES)
    fewer = run_on(tmp_path, "fewer", {"tfdata-none-uint8-warm": 0.1}, seed=1)
    with pytest.raises(GateError, match=r"has 1 case\(s\) that .* did not measure \(skipped, failed or "
                                        r"deselected\): kerasdir-none-uint8-warm"):
        compare_runs(base, fewer, FAST)
    more = run_on(tmp_path, "more", {**CASES, "idg-none-float32-warm": 0.3}, seed=2)
    result = compare_runs(base, more, FAST)
    text = format_result(result, FAST, "b")
    assert result.exit_status == 0 and "idg-none-float32-warm: new in this run, not judged: no baseline" in text
    assert [v.case for v in result.verdicts] == list(CASES)


def test_the_judge_command_refuses_two_files_of_other_datasets_with_exit_2(tmp_path, capsys):
    run_on(tmp_path, "base", CASES, **dataset(60))
    run_on(tmp_path, "head", CASES, seed=1, **dataset(300))
    assert judge_main([str(tmp_path / "base.json"), str(tmp_path / "head.json")]) == 2
    out = capsys.readouterr().out
    assert out.startswith(f"gate: the baseline {tmp_path / 'base.json'} and this run ({tmp_path / 'head.json'}) "
                          "differ in dataset: smoke-60-s0") and "gate passed" not in out


def test_runs_pooled_on_one_side_must_share_their_dataset(tmp_path):
    a = run_on(tmp_path, "a", CASES)
    b = run_on(tmp_path, "b", CASES, seed=1, **dataset(60))
    with pytest.raises(GateError, match=r"runs pooled for .* differ in dataset: .*\(one run\) vs .*\(another\)"):
        pooled([a, b], "side")


def test_a_case_keeps_its_workload_when_pooled(tmp_path):
    a = run_on(tmp_path, "a", CASES)
    both = pooled([a, run_on(tmp_path, "b", CASES, seed=1)], "side").cases["tfdata-none-uint8-warm"]
    assert both.workload["dataset"]["name"] == "smoke-300-s0" and len(both.seconds) == 14
    assert CaseRounds("c", (1.0,)) == CaseRounds("c", (1.0,), workload={"dataset": {"name": "x"}})  # not compared


# --- under pytest: a bad baseline stops the run before anything is measured --------------------------------------


def _baseline_of(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "baseline.json"
    path.write_text(text)
    return path


@pytest.mark.parametrize(("text", "line"), [
    ("not json", "{path}: not a pytest-benchmark JSON file (Expecting value: line 1 column 1 (char 0))"),
    ('{"hello": 1}', "{path}: not a pytest-benchmark JSON file (no 'benchmarks' in it)"),
    ('{"benchmarks": []}', "{path}: holds no case at all (a run stopped before its first case finished?): save "
                           "a new baseline with `tox -e bench-baseline`"),
], ids=["not-json", "not-a-run", "no-case"])
def test_a_bad_baseline_file_stops_the_run_at_start_naming_option_and_path(pytester, monkeypatch, tmp_path, text,
                                                                          line):
    path = _baseline_of(tmp_path, text)
    done = bench_in_process(pytester, monkeypatch, tmp_path, "--gate-baseline", str(path), "--images", "12")
    assert_refused_at_start(done, tmp_path, "--gate-baseline: " + line.format(path=path))


def test_a_baseline_of_another_dataset_stops_the_run_before_anything_is_measured(pytester, monkeypatch, tmp_path):
    """the dataset is known from the options: smoke at 300 images against a baseline of 60 is refused at start"""
    path = write_run(tmp_path / "baseline.json",
                     [record("tfdata-none-uint8-warm", 0.1, np.random.default_rng(0), **dataset(60),
                             contract=CONTRACT)])
    done = bench_in_process(pytester, monkeypatch, tmp_path, "--gate-baseline", str(path), "--images", "300")
    assert_refused_at_start(done, tmp_path, f"--gate-baseline: the baseline {path} and this run differ in dataset: "
                            "smoke-60-s0, 60 images, 3 classes (baseline) vs smoke-300-s0, 300 images, 3 classes "
                            "(this run): their cases timed other work, so no ratio between them measures a change "
                            "-- run with the baseline's options (--preset, --images, --seed, --dataset, --batch-size, "
                            "--parallelism), or save a new baseline with `tox -e bench-baseline`")


def test_what_only_measuring_tells_is_checked_at_the_end_and_refused_with_exit_4(tmp_path):
    """the dataset's bytes are known once it is made: a baseline that differs in them is refused after the run,
    exit 4, never a verdict (the cases run are checked there too: a baseline case this run lacks, above)"""
    rng = np.random.default_rng(0)
    contract = {**CONTRACT, "batch_size": 4}
    path = write_run(tmp_path / "baseline.json", [
        record(case, 0.01, rng, **dataset(12, image_bytes=1), contract=contract)
        for case in ("tfdata-none-uint8-warm", "tfdata-none-uint8-cold")])
    done = bench_run(tmp_path, "--gate-baseline", str(path), "--images", "12", "--batch-size", "4", "--rounds", "1",
                     "--min-round-s", "0", "-k", "throughput and tfdata-none-uint8-warm")
    output = done.stdout + done.stderr
    assert done.returncode == 4, output[-3000:]
    assert "1 passed" in done.stdout and "gate passed" not in output and "REGRESSED" not in output
    assert f"gate: the baseline {path} and this run differ in dataset: smoke-12-s0, 12 images, 12 bytes" in output

