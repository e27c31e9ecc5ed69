"""Nothing lost on the trainer's side: a case with an epoch that saw fewer (or more) images than the dataset holds
-- a tf.data service worker that died with its elements, a loader that drops some -- fails with one line, records
the images seen against those expected, and posts no time: not in pytest-benchmark's ``benchmarks`` (its JSON,
tables and compare), not in the summary, the report or the gate, each of which says why
(:mod:`pipelines.harness.complete`).

The loader that loses images is built here (:func:`loses_later_epochs`) and declared to the run in a child by a
two-line module of its own (:data:`DECLARATION`): a declaration is imported while the loader registry is, which
this module's imports would need whole; a builder is imported when first used.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from types import SimpleNamespace

import pytest

from pipelines.epoch.run import EpochRun
from pipelines.gate.judge import compare_runs, format_result
from pipelines.gate.runs import GateError, load_run, rounds_from_records
from pipelines.gate.settings import GateSettings
from pipelines.harness.cases import Case
from pipelines.harness.complete import (drop_incomplete, incomplete_info, incomplete_line, is_complete,
                                        saved_incomplete)
from pipelines.harness.plan import RoundPlan
from pipelines.harness.records import incomplete_case_info
from pipelines.harness.rounds import OffRecordBenchmark, TimedEpochs, time_rounds
from pipelines.loaders.declared import ENVIRONMENT
from pipelines.report.markdown import comparison_table, markdown_table
from pipelines.report.results import load_results
from pipelines.report.summary import format_summary, summary_rows
from tests.helpers import bench_run

README_RUN = Path(__file__).parent / "data" / "readme-run.json"
IDENTITY = {"cpu_model": "AMD EPYC", "cpu_count": 2, "tensorflow": "2.21.0", "python": "3.11.7"}
FAST = GateSettings(resamples=200)
LINE = "an epoch saw 8 of 12 images"


class LosesLaterEpochs:
    """The exact pipeline's batches, every epoch after the first losing its last batch: a tf.data service whose
    worker died after the first epoch. The contract check reads one epoch of a pipeline of its own, whole, and
    passes it; a warm case's warm-up epoch is whole too, and every epoch after it short."""

    def __init__(self, batches: list) -> None:
        self.batches, self.epochs = batches, 0

    def __iter__(self):
        self.epochs += 1
        return iter(self.batches if self.epochs == 1 else self.batches[:-1])


def loses_later_epochs(index, contract, cache_prefix):
    from pipelines.loaders.tfdata import build_tfdata_pipeline

    return LosesLaterEpochs([(x.numpy(), y.numpy()) for x, y in build_tfdata_pipeline(index, contract, cache_prefix)])


#: The declaration the child imports (as ``short_epoch_loader:LOSES``), naming the builder above.
DECLARATION = f"""from pipelines.loaders.spec import LoaderSpec

LOSES = LoaderSpec("own-loses", "own (loses images)", "{__name__}", "loses_later_epochs", caches=("none",),
                   trained=False)
"""


def _record(case: str, epoch: str = "warm", **extra) -> dict:
    return {**IDENTITY, "case": case, "loader": case.split("-")[0], "cache": "none", "placement": "uint8",
            "epoch": epoch, **extra}


def _measured(case: str, epoch: str = "warm") -> dict:
    """A complete record with rounds the gate can judge (7, the same in every run: no regression)."""
    seconds = [0.100, 0.102, 0.098, 0.101, 0.099, 0.103, 0.097]
    return _record(case, epoch, round_seconds=seconds, paired_seconds=[0.03] * 7, other_cores=0.0,
                   available_cores=2, images_per_sec=120.0, spread=0.03)


def _lost(case: str, epoch: str = "warm") -> dict:
    return _record(case, epoch, complete=False, images_seen=8, images_expected=12, epochs=6, incomplete_epochs=5)


def test_every_epoch_counts_and_the_first_odd_one_is_recorded():
    """the first count off the dataset's, how many were off, and nothing for a case whose epochs all saw it"""
    assert incomplete_info([12, 12, 12], 12) is None
    assert incomplete_info([12, 8, 12, 13], 12) == {"complete": False, "images_seen": 8, "images_expected": 12,
                                                    "epochs": 4, "incomplete_epochs": 2}
    assert is_complete({"images_per_sec": 1.0}) and is_complete({"complete": True}) and not is_complete(_lost("x"))


def test_a_calibration_epoch_that_lost_images_makes_the_case_incomplete():
    """untimed epochs are counted too: calibration (here) and a warm case's warm-up (by cold_warm), before the
    timed ones; the record holds the counts and the case, no rate"""
    counts = iter([12, 8] + [12] * 8)

    def one_epoch() -> EpochRun:
        return EpochRun(next(counts), 3, 0.01, 0.001)

    timed = time_rounds(OffRecordBenchmark(), one_epoch, RoundPlan(2, 0.015, 10))
    assert timed.untimed_images == [12, 8] and timed.epoch_images == [12, 8, 12, 12, 12, 12]
    index = SimpleNamespace(images=12, name="smoke-12-s0", bytes=1000, class_names=["a", "b", "c"])
    record = incomplete_case_info(Case("tfdata", "none", "uint8"), "warm", timed, index)
    assert record == {"case": "tfdata-none-uint8", "loader": "tfdata", "cache": "none", "placement": "uint8",
                      "epoch": "warm", "complete": False, "images_seen": 8, "images_expected": 12, "epochs": 6,
                      "incomplete_epochs": 1, "dataset": "smoke-12-s0", "dataset_images": 12, "dataset_bytes": 1000,
                      "dataset_classes": 3}
    assert incomplete_case_info(Case("tfdata", "none", "uint8"), "warm",
                                TimedEpochs(runs=[EpochRun(12, 3, 0.01, 0.001)]), index) is None
    line = incomplete_line(record)
    assert line.startswith(f"tfdata-none-uint8-warm: {LINE} (") and "\n" not in line
    assert incomplete_line({**record, "model": "mobilenet"}).startswith("training tfdata-none-uint8-warm: ")


def test_an_incomplete_case_leaves_pytest_benchmarks_list_with_its_record():
    """only incomplete cases are taken out (a finished, complete one stays), as a JSON entry without stats"""
    kept = SimpleNamespace(name="a", fullname="t::a", group="g", extra_info=_measured("tfdata-none-uint8"))
    lost = SimpleNamespace(name="b", fullname="t::b", group="g", extra_info=_lost("kerasdir-none-uint8"))
    benchmarks = [kept, lost]
    assert drop_incomplete(benchmarks) == [{"group": "g", "name": "b", "fullname": "t::b",
                                            "extra_info": _lost("kerasdir-none-uint8")}]
    assert benchmarks == [kept]
    assert saved_incomplete({"loaderbench": {"incomplete": [{"name": "b", "extra_info": {}}, "junk"]}}) == [
        {"name": "b", "extra_info": {}}]
    assert saved_incomplete({"loaderbench": {"wall_s": 1.0}}) == saved_incomplete({}) == []


def test_the_gate_judges_no_incomplete_case_and_says_why():
    """this run's incomplete case is refused as not measured, with what it saw; one new in either run is listed
    as not judged, never as a pass or a regression"""
    base = rounds_from_records([_measured("tfdata-none-uint8"), _measured("tfdata-none-uint8", "cold")], "baseline")
    head = rounds_from_records([_measured("tfdata-none-uint8"), _lost("tfdata-none-uint8", "cold")], "this run")
    assert set(head.cases) == {"tfdata-none-uint8-warm"}
    assert head.incomplete == {"tfdata-none-uint8-cold": LINE}
    with pytest.raises(GateError, match=f"did not measure .*: tfdata-none-uint8-cold \\({LINE}\\)"):
        compare_runs(base, head, FAST)
    only_lost = rounds_from_records([_lost("tfdata-none-uint8")], "this run")
    with pytest.raises(GateError, match=f"no case in common .*tfdata-none-uint8-warm left out: {LINE}"):
        compare_runs(base, only_lost, FAST)

    head = rounds_from_records([_measured("tfdata-none-uint8"), _measured("tfdata-none-uint8", "cold"),
                                _lost("kerasdir-none-uint8")], "this run")
    base = rounds_from_records([_measured("tfdata-none-uint8"), _measured("tfdata-none-uint8", "cold"),
                                _lost("tfdata-fast-none-uint8")], "baseline")
    result = compare_runs(base, head, FAST)
    text = format_result(result, FAST, "baseline")
    assert f"kerasdir-none-uint8-warm: not judged, {LINE} in this run" in text
    assert f"tfdata-fast-none-uint8-warm: not judged, {LINE} in the baseline" in text
    assert result.exit_status == 0 and len(result.verdicts) == 2


def test_the_summary_and_report_leave_an_incomplete_case_out_saying_why(tmp_path):
    """a saved run's incomplete case (under loaderbench.incomplete) has no row, ratio or chart figure, and one
    line; the other cases read as before"""
    data = json.loads(README_RUN.read_text())
    before = format_summary(load_results(README_RUN))
    data["loaderbench"]["incomplete"] = [{"group": "throughput", "name": "test_throughput[own-loses-none-uint8-warm]",
                                          "fullname": "x", "extra_info": _lost("own-loses-none-uint8")}]
    saved = tmp_path / "run.json"
    saved.write_text(json.dumps(data))
    records = load_results(saved)
    assert [r["name"] for r in records if not is_complete(r)] == ["test_throughput[own-loses-none-uint8-warm]"]
    assert format_summary(records) == before + "\n\n" + incomplete_line(_lost("own-loses-none-uint8"))
    assert not any(row["case"].startswith("own-loses") for row in summary_rows(records))
    assert "own-loses" not in markdown_table(records) and "own-loses" not in comparison_table(records, records)
    assert format_summary([_lost("own-loses-none-uint8")]).splitlines() == [
        "no loader results recorded", incomplete_line(_lost("own-loses-none-uint8"))]


def test_a_run_whose_epochs_lose_images_fails_the_case_and_posts_no_time(tmp_path):
    """a loader that keeps the contract's one-epoch check and then loses its last batch every epoch: the case
    fails with the one line, pytest-benchmark's JSON holds no stats for it but the record beside its cases, and
    the gate and the report read it as incomplete"""
    report = tmp_path / "run.json"
    (tmp_path / "declared").mkdir()
    (tmp_path / "declared" / "short_epoch_loader.py").write_text(DECLARATION)
    path = os.pathsep.join(filter(None, [str(tmp_path / "declared"), os.environ.get("PYTHONPATH")]))
    done = bench_run(tmp_path, "-k", "(test_throughput and own-loses-none-uint8-warm) or decode-limit",
                     "--images", "12", "--batch-size", "4", "--rounds", "2", "--min-round-s", "0",
                     f"--benchmark-json={report}",
                     env={**os.environ, ENVIRONMENT: "short_epoch_loader:LOSES", "PYTHONPATH": path})
    output = done.stdout + done.stderr
    assert done.returncode == 1, output[-3000:]
    assert "1 failed, 1 passed" in done.stdout, output[-3000:]
    assert f"own-loses-none-uint8-warm: {LINE} (elements lost" in done.stdout, output[-3000:]
    assert "Traceback" not in output and "AssertionError" not in output, output[-3000:]
    assert ("loaderbench: left out of the results, an epoch lost images: "
            "test_throughput[own-loses-none-uint8-warm]") in done.stderr, output[-3000:]

    saved = json.loads(report.read_text())
    assert [bench["name"] for bench in saved["benchmarks"]] == ["test_reference[decode-limit]"]
    [entry] = saved["loaderbench"]["incomplete"]
    assert entry["name"] == "test_throughput[own-loses-none-uint8-warm]" and "stats" not in entry
    info = entry["extra_info"]
    assert (info["complete"], info["images_seen"], info["images_expected"]) == (False, 8, 12)
    assert info["epochs"] > info["incomplete_epochs"] > 0  # the warm-up epoch was whole
    assert "images_per_sec" not in info and "round_seconds" not in info

    assert load_run(report).incomplete == {"own-loses-none-uint8-warm": LINE}
    assert f"own-loses-none-uint8-warm: {LINE}" in format_summary(load_results(report))
