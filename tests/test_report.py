"""The report command on a stored run: numbers match the JSON, charts are real PNGs, bad files say so."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PIL import Image

from pipelines.report.__main__ import main as report_cli
from pipelines.report.markdown import comparison_table, report_rows
from pipelines.report.results import ReportError, load_results

RUN = Path(__file__).parent / "data" / "tiny-run.json"


def test_loaded_records_carry_extra_info_and_timings():
    records = load_results(RUN)
    names = {r["name"] for r in records}
    assert "test_throughput[tfdata-file-uint8-warm]" in names and "test_training[idg-none-float32-cold]" in names
    assert all(r["median_s"] > 0 for r in records)


def test_report_table_numbers_match_the_json(tmp_path):
    assert report_cli([str(RUN), "--out", str(tmp_path)]) == 0
    text = (tmp_path / "report.md").read_text()
    data = json.loads(RUN.read_text())
    warm = next(b for b in data["benchmarks"] if b["name"] == "test_throughput[tfdata-file-uint8-warm]")
    row = next(line for line in text.splitlines() if line.startswith("| tfdata-file-uint8 |"))
    assert f"| {warm['extra_info']['images_per_sec']:.0f} ±{100 * warm['extra_info']['spread']:.0f}% |" in row
    assert f"{warm['extra_info']['machine_limit_pct']:.0f}%" in row
    training = next(b for b in data["benchmarks"] if b["name"] == "test_training[tfdata-file-uint8-cold]")
    assert f"{training['extra_info']['epoch_s']:.2f}" in row
    for chart in ("throughput.png", "epochs.png"):
        with Image.open(tmp_path / chart) as image:
            assert image.format == "PNG" and image.width >= 600
        assert f"]({chart})" in text


def test_report_rows_include_peak_rss_of_cached_cases():
    rows = {r["case"]: r for r in report_rows(load_results(RUN))}
    assert rows["tfdata-memory-float32"]["peak_rss_bytes"] > 0
    assert rows["tfdata-none-uint8"]["peak_rss_bytes"] is None


def test_two_runs_give_ratios(tmp_path):
    data = json.loads(RUN.read_text())
    for bench in data["benchmarks"]:
        bench["stats"]["median"] *= 2
        if "images_per_sec" in bench["extra_info"]:
            bench["extra_info"]["images_per_sec"] /= 2
    slower = tmp_path / "slower.json"
    slower.write_text(json.dumps(data))
    table = comparison_table(load_results(RUN), load_results(slower))
    line = next(l for l in table.splitlines() if "tfdata-none-uint8-warm" in l)
    assert "0.50x" in line and "2.00x" in line
    assert report_cli([str(RUN), str(slower), "--out", str(tmp_path / "cmp")]) == 0
    assert "against" in (tmp_path / "cmp" / "report.md").read_text()


@pytest.mark.parametrize(("content", "message"), [("", "is empty"), ("{not json", "not valid JSON"),
                                                  ('{"x": 1}', "no 'benchmarks' list"),
                                                  ('{"benchmarks": []}', "no loaderbench results")])
def test_bad_files_get_a_clear_error(tmp_path, capsys, content, message):
    bad = tmp_path / "bad.json"
    bad.write_text(content)
    with pytest.raises(ReportError, match=message):
        load_results(bad)
    assert report_cli([str(bad), "--out", str(tmp_path / "out")]) == 2
    assert message in capsys.readouterr().err


def test_missing_file_is_named(tmp_path):
    with pytest.raises(ReportError, match=f"cannot read {tmp_path / 'nope.json'}"):
        load_results(tmp_path / "nope.json")


# --- the spread of unchanged reruns (``python -m pipelines.report reruns``), from synthetic runs ---------------

MACHINE = {"cpu_model": "AMD EPYC", "cpu_count": 2, "tensorflow": "2.16.1", "python": "3.11.7"}


def _record(case: str, epoch: str, images_per_sec: float, spread: float, **machine) -> dict:
    loader, cache, placement = case.rsplit("-", 2)
    return {"case": case, "loader": loader, "cache": cache, "placement": placement, "epoch": epoch,
            "images": 100, "images_per_sec": images_per_sec, "spread": spread, **MACHINE, **machine}


def _write_run(path: Path, records: list[dict], group: str = "throughput synth-100") -> Path:
    benchmarks = [{"name": f"test_throughput[{r['case']}-{r['epoch']}]", "group": group, "extra_info": r,
                   "stats": {"median": r["images"] / r["images_per_sec"], "min": r["images"] / r["images_per_sec"]}}
                  for r in records]
    path.write_text(json.dumps({"machine_info": {}, "benchmarks": benchmarks}))
    return path


def _three_runs(tmp_path: Path) -> list[str]:
    """tfdata-none-uint8-warm moves ±10% between runs against ±2% within; idg-none-float32-warm ±1% against ±5%;
    tfdata-file-uint8-cold is missing from the third run."""
    runs = []
    for i, (tfdata, idg) in enumerate(((100.0, 200.0), (110.0, 202.0), (90.0, 198.0)), 1):
        records = [_record("tfdata-none-uint8", "warm", tfdata, 0.02 + 0.01 * (i == 3)),
                   _record("idg-none-float32", "warm", idg, 0.05)]
        if i < 3:
            records.append(_record("tfdata-file-uint8", "cold", 50.0, 0.01))
        runs.append(str(_write_run(tmp_path / f"run{i}.json", records)))
    return runs


def test_rerun_spread_is_the_within_run_statistic_over_the_runs_medians(tmp_path):
    from pipelines.units import relative_spread
    from pipelines.report.reruns import case_reruns, load_runs

    cases = {c.case: c for c in case_reruns(load_runs(_three_runs(tmp_path)))}
    assert set(cases) == {"tfdata-none-uint8-warm", "idg-none-float32-warm"}  # only cases in every run
    tfdata = cases["tfdata-none-uint8-warm"]
    assert tfdata.rates == (100.0, 110.0, 90.0)
    # the same statistic as a case's ``spread``: on epoch seconds (images / rate), half the range over the median
    assert tfdata.rerun_spread == pytest.approx(relative_spread([100 / r for r in tfdata.rates]))
    assert tfdata.rerun_spread == pytest.approx((100 / 90 - 100 / 110) / 2)
    assert tfdata.within_spread == pytest.approx(0.02)  # the median of 0.02, 0.02, 0.03
    assert tfdata.larger == "rerun"
    assert cases["idg-none-float32-warm"].larger == "within"


def test_reruns_command_writes_the_table_and_the_summary_line(tmp_path, capsys):
    out = tmp_path / "notes"
    assert report_cli(["reruns", *_three_runs(tmp_path), "--out", str(out)]) == 0
    text = (out / "reruns.md").read_text()
    assert text.strip() in capsys.readouterr().out
    row = next(line for line in text.splitlines() if "| tfdata-none-uint8-warm |" in line)
    assert "| 100.0 | 110.0 | 90.0 | ±10.1% | ±2.0% | rerun |" in row
    assert "| throughput synth-100 |" in row
    assert "Not in every run: tfdata-file-uint8-cold (throughput synth-100)" in text
    summary = text.strip().splitlines()[-1]
    assert "over 2 cases: median ±5.6%, largest ±10.1% (tfdata-none-uint8-warm" in summary
    assert "exceeds the within-run spread in 1 of 2 cases (50%)" in summary
    assert "AMD EPYC" in text and "run1.json" in text


def test_reruns_refuse_a_single_run(tmp_path, capsys):
    run = _three_runs(tmp_path)[0]
    assert report_cli(["reruns", run]) == 2
    assert "at least two runs, got 1" in capsys.readouterr().err


def test_reruns_refuse_runs_from_different_machines(tmp_path, capsys):
    first = _write_run(tmp_path / "a.json", [_record("tfdata-none-uint8", "warm", 100.0, 0.02)])
    second = _write_run(tmp_path / "b.json", [_record("tfdata-none-uint8", "warm", 100.0, 0.02, cpu_count=8,
                                                      tensorflow="2.17.0")])
    assert report_cli(["reruns", str(first), str(second)]) == 2
    err = capsys.readouterr().err
    assert "different machines" in err
    assert f"cpu_count: 2 ({first}) / 8 ({second})" in err and "tensorflow: 2.16.1" in err
    assert "cpu_model" not in err  # only what differs is named


def test_reruns_refuse_runs_with_no_case_in_common(tmp_path, capsys):
    first = _write_run(tmp_path / "a.json", [_record("tfdata-none-uint8", "warm", 100.0, 0.02)])
    other_case = _write_run(tmp_path / "b.json", [_record("tfdata-none-uint8", "cold", 100.0, 0.02)])
    other_dataset = _write_run(tmp_path / "c.json", [_record("tfdata-none-uint8", "warm", 100.0, 0.02)],
                               group="throughput other-100")
    for second in (other_case, other_dataset):
        assert report_cli(["reruns", str(first), str(second)]) == 2
        assert "no case in common to the 2 runs" in capsys.readouterr().err


def test_reruns_of_a_bad_file_name_it(tmp_path, capsys):
    bad = tmp_path / "bad.json"
    bad.write_text("")
    assert report_cli(["reruns", _three_runs(tmp_path)[0], str(bad)]) == 2
    assert f"{bad} is empty" in capsys.readouterr().err


def test_the_run_time_line_counts_each_rounds_epochs_against_the_wall_time():
    from pipelines.report.summary import run_time_line, timed_seconds
    from pipelines.units import format_duration

    records = [{"round_seconds": [0.5, 0.5, 0.5], "epochs_per_round": 4}, {"round_seconds": [3.0, 3.0]}, {}]
    assert timed_seconds(records) == 12.0
    line = run_time_line(48.0, records)
    assert "48 s from the start" in line and "12 s of it (25%) timed epochs" in line
    assert [format_duration(s) for s in (5, 65, 245.4, 3725)] == ["5 s", "1 min 05 s", "4 min 05 s", "1 h 02 min"]


@pytest.mark.parametrize(("fast", "says"), [(786.0, True), (900.0, False)])
def test_the_summary_says_when_a_variant_is_slower_than_its_loader(fast, says):
    """tfdata-fast at 786 +-3% img/s against tfdata's 912 +-2% is slower beyond both spreads, and said so; at
    900 the two overlap, and nothing is claimed"""
    from pipelines.report.summary import format_summary

    records = [_record("tfdata-none-uint8", "warm", 912.0, 0.02),
               _record("tfdata-fast-none-uint8", "warm", fast, 0.03)]
    text = format_summary(records)
    line = "tfdata-fast-none-uint8-warm: 786 ±3% img/s against tfdata's 912 ±2%: slower than the loader it varies"
    assert (line in text) == says, text
    assert ("slower than the loader it varies" in text) == says


def test_a_bar_whose_spread_is_not_known_gets_no_error_bar():
    """a zero-width error bar reads as no error at all: a summary cell without a spread draws none (NaN), while a
    measured zero stays zero; an interval (the study's) is drawn from its two ends"""
    import math

    from pipelines.report.charts import _measured

    assert _measured((2.0, 0.1)) == pytest.approx((2.0, 1.8, 2.2))
    assert _measured((2.0, 0.0)) == (2.0, 2.0, 2.0)
    assert _measured((2.0, 1.5, 3.0)) == (2.0, 1.5, 3.0)
    value, low, high = _measured((2.0, None))
    assert value == 2.0 and math.isnan(low) and math.isnan(high)
    value, low, high = _measured(None)
    assert value == 0.0 and math.isnan(low) and math.isnan(high)
