"""The study's check that a row's fitted sizes lie on a line, and its second pass where they do not."""

from __future__ import annotations

import pytest

from pipelines.study.in_line import faster_of, measured_in_line, off_line, off_line_line
from pipelines.study.scaling import Point

SIZES = (250, 500, 1000)


def _row(case: str, seconds: dict[int, float], epoch: str = "cold") -> list[Point]:
    return [Point(case, epoch, n, (s, s, s), 0, n * 150_000) for n, s in seconds.items()]


def test_a_row_whose_inner_size_lies_off_the_chord_is_found_and_a_row_on_it_is_not():
    slowed = _row("tfdata-memory-uint8", {250: 0.70, 500: 0.76, 1000: 1.47})  # 250 images slowed
    steady = _row("tfdata-none-uint8", {250: 0.41, 500: 0.80, 1000: 1.57})
    found = off_line(slowed + steady, SIZES)
    assert set(found) == {("tfdata-memory-uint8", "cold")}
    size, share = found[("tfdata-memory-uint8", "cold")]
    assert size == 500 and share == pytest.approx((0.76 - (0.70 + 0.77 / 3)) / 0.76)  # 26% under its chord
    assert off_line(slowed, (250, 1000)) == {}  # two sizes: any two lie on a line
    assert off_line(slowed[:2], SIZES) == {}  # a size not measured: nothing to judge
    trained = [Point(p.case, p.epoch, p.images, p.seconds, 0, 1, model="mobilenet") for p in slowed]
    assert off_line(trained, SIZES) == {}  # loader epochs only


def test_the_faster_median_of_two_passes_is_kept_at_each_size():
    first = _row("a", {250: 0.70, 500: 0.76, 1000: 1.47}) + _row("b", {250: 1.0, 500: 2.0, 1000: 4.0})
    again = _row("a", {250: 0.41, 500: 0.80, 1000: 1.50})
    kept = {(p.case, p.images): p.median_s for p in faster_of(first, again)}
    assert kept == {("a", 250): 0.41, ("a", 500): 0.76, ("a", 1000): 1.47,
                    ("b", 250): 1.0, ("b", 500): 2.0, ("b", 1000): 4.0}


def test_only_the_rows_off_their_line_are_measured_again():
    asked = []

    def measure_rows(case_ids):
        asked.append(case_ids)
        return _row("slowed", {250: 0.41, 500: 0.80, 1000: 1.50})

    points = _row("slowed", {250: 0.70, 500: 0.76, 1000: 1.47}) + _row("steady", {250: 0.4, 500: 0.8, 1000: 1.6})
    kept, twice = measured_in_line(points, SIZES, measure_rows)
    assert asked == [("slowed",)] and twice == ["slowed"]
    assert off_line(kept, SIZES) == {}
    assert measured_in_line(kept, SIZES, measure_rows) == (kept, []) and len(asked) == 1  # in line: not again


def test_the_study_says_which_rows_were_measured_twice_and_which_stay_off_their_line():
    curved = _row("tfdata-file-float32", {250: 0.13, 500: 0.42, 1000: 0.39}, epoch="warm")
    line = off_line_line(curved, SIZES, ["tfdata-file-float32"])
    assert "measured twice, the faster pass kept at each size: tfdata-file-float32" in line
    assert "tfdata-file-float32 later 500 images" in line
    assert off_line_line(_row("a", {250: 0.4, 500: 0.8, 1000: 1.6}), SIZES, []) == ""
    assert off_line_line(_row("a", {250: 0.4, 500: 0.8, 1000: 1.6}), SIZES, ["a"]).endswith("it: none")


def test_a_rows_second_pass_is_checkpointed_apart_and_a_resumed_run_takes_it(tmp_path):
    """a stopped study kept a row's first pass and its second; a resume takes each from its own pass (the
    first pass decides again which rows lie off their line, the second is not measured a third time)"""
    from pipelines.study.checkpoint import Checkpoint
    from pipelines.study.settings import StudySettings

    settings = StudySettings(sizes=SIZES, rounds=3)
    path = tmp_path / "study.partial.json"
    stopped = Checkpoint.open(path, settings, resume=False)
    first, = _row("tfdata-memory-uint8", {500: 0.76})
    second, = _row("tfdata-memory-uint8", {500: 0.80})
    stopped.keep(first)
    stopped.second_pass().keep(second)
    resumed = Checkpoint.open(path, settings, resume=True)
    assert resumed.take("tfdata-memory-uint8", "cold", 500, None) == first
    assert resumed.second_pass().take("tfdata-memory-uint8", "cold", 500, None) == second
    assert resumed.second_pass().take("tfdata-memory-uint8", "cold", 250, None) is None  # not measured yet
    assert Checkpoint.open(path, StudySettings(sizes=SIZES, rounds=2), resume=True).second_pass().take(
        "tfdata-memory-uint8", "cold", 500, None) is None  # other rounds: measured afresh
