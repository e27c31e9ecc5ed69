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
