"""The study's steps on synthetic points -- the law and its interval, the bounds, the table's rules, the
recommendation, the held-out coverage -- and the command end to end on a tiny dataset."""

from __future__ import annotations

import json
import re
import statistics
from dataclasses import replace

import numpy as np
import pytest

from pipelines.caches.bandwidth import Bandwidth
from pipelines.harness.cases import Case
from pipelines.harness.plan import RoundPlan
from pipelines.loaders.registry import LOADER_SPECS
from pipelines.study.__main__ import main
from pipelines.study.fit import Estimate, fit_law
from pipelines.study.held_out import COUNTED_S, HeldOut, coverage
from pipelines.study.checkpoint import Point
from pipelines.study.measure import Measured
from pipelines.study.recommend import recommend
from pipelines.study.settings import STUDY_CASES, StudySettings
from pipelines.study.table import Predictor, laws, table_lines

GB = 10**9
COCO = 117_266
JPEG_BYTES_AN_IMAGE = 157_000  # coco2017's shape: ~18.4 GB for 117,266 images
SIZES = (250, 500, 1000)


def rounds_of(fixed: float, per_image: float, n: int, rng, noise: float, rounds: int = 3) -> tuple[float, ...]:
    return tuple((fixed + per_image * n) * (1 + rng.uniform(-noise, noise)) for _ in range(rounds))


# --- step 2: the law and its interval ------------------------------------------------------------------------

def test_a_known_law_is_recovered_from_noisy_rounds_and_one_slow_round_a_size_does_not_tilt_it():
    rng = np.random.default_rng(0)
    steady = [(n, rounds_of(0.4, 0.002, n, rng, 0.03)) for n in SIZES]
    law = fit_law(steady)
    assert law.median.per_image_s == pytest.approx(0.002, rel=0.05) and law.sizes == SIZES
    assert law.median.seconds(COCO) == pytest.approx(0.4 + 0.002 * COCO, rel=0.05)
    first_slow = fit_law([(n, (5 * s[0], *s[1:])) for n, s in steady])  # a volume waking up: each first round
    assert first_slow.median.seconds(3000) == pytest.approx(law.median.seconds(3000), rel=0.05)
    assert first_slow.estimate(3000).high > 4 * law.median.seconds(3000)  # but the interval says how slow it was


def test_a_law_is_never_negative_and_needs_two_sizes():
    law = fit_law([(60, (0.5, 0.52)), (96, (0.45,))])  # start-up dominates: the raw slope would be negative
    assert law.median.fixed_s >= 0 and law.median.per_image_s >= 0 and law.estimate(10**6).low >= 0
    with pytest.raises(ValueError, match="two sizes"):
        fit_law([(100, (1.0, 1.1))])


def synthetic_coverage(noise: float, seeds: int = 200) -> tuple[float, float]:
    """The share of held-out epochs at 12,000 images inside their interval, and the median half-width, over
    ``seeds`` synthetic studies: rounds of a known law with uniform noise of ``noise`` at 250-1,000 images, the
    held-out epoch the median of three rounds drawn the same way."""
    inside, widths = 0, []
    for seed in range(seeds):
        rng = np.random.default_rng(seed)
        fixed, per_image = rng.uniform(0.05, 1.0), rng.uniform(1e-4, 3e-3)
        estimate = fit_law([(n, rounds_of(fixed, per_image, n, rng, noise)) for n in SIZES]).estimate(12_000)
        measured = statistics.median(rounds_of(fixed, per_image, 12_000, rng, noise))
        inside += estimate.holds(measured)
        widths.append(estimate.half_width)
    return inside / seeds, statistics.median(widths)


def test_the_interval_covers_a_synthetic_laws_held_out_epochs_and_narrows_as_rounds_agree():
    """the design's promise on a law that holds: at least 90% of held-out epochs inside, the interval no wider
    than the rounds' disagreement carried out to the held-out size"""
    noisy, noisy_width = synthetic_coverage(0.10)
    quiet, quiet_width = synthetic_coverage(0.01)
    assert noisy >= 0.9 and quiet >= 0.9
    assert quiet_width < noisy_width / 5 and noisy_width < 0.6


def test_sizes_off_a_line_widen_the_interval_as_rounds_that_stray_would():
    """rounds that agree at sizes on a line: no interval to speak of; at sizes off it (500 lies 20% above the
    line through the others), the distances are the rounds' and the interval wide"""
    on_line = fit_law([(n, (1 + 0.001 * n,) * 3) for n in SIZES])
    off_line = fit_law([(250, (1.25,) * 3), (500, (1.8,) * 3), (1000, (2.0,) * 3)])
    assert on_line.estimate(12_000).half_width == pytest.approx(0.0, abs=1e-9) and on_line.dof == 7
    assert off_line.spread > 0.05 and off_line.estimate(12_000).half_width > 0.2
    assert fit_law([(250, (1.0,)), (500, (1.5,))]).estimate(12_000).high == float("inf")  # no degree of freedom


def test_an_estimate_composes_with_other_work_and_with_the_storage_it_overlaps():
    cpu, storage = Estimate(10.0, 9.0, 12.0), Estimate(11.0, 8.0, 15.0)
    assert cpu.at_least(storage) == Estimate(11.0, 9.0, 15.0)
    assert cpu.overlapping(storage) == Estimate(11.0, 9.0, 27.0)  # fully (the slower) up to not at all (the sum)
    assert cpu.plus(Estimate(5.0, 5.0, 5.0)) == Estimate(15.0, 14.0, 17.0) and cpu.half_width == pytest.approx(0.15)
    assert cpu.holds(9.0) and cpu.holds(12.0) and not cpu.holds(12.1)


# --- steps 3-4: the bounds and the table's rules -------------------------------------------------------------

# Images/s shaped like this machine's coco2017 measurements: idg slowest, caches fastest once warm.
COLD = {"idg-none-float32": 300, "tfdata-none-uint8": 700, "tfdata-memory-uint8": 650,
        "tfdata-memory-float32": 600, "tfdata-file-uint8": 550, "tfdata-file-float32": 400, "grain-none-uint8": 320}
WARM = {"idg-none-float32": 350, "tfdata-none-uint8": 900, "tfdata-memory-uint8": 9000,
        "tfdata-memory-float32": 12000, "tfdata-file-uint8": 3000, "tfdata-file-float32": 1500,
        "grain-none-uint8": 410}


def synthetic_points(cold=COLD, warm=WARM, sizes=SIZES, spread=0.02, model=None) -> list[Point]:
    """Three rounds a size of 1 s plus each row's rate, ``spread`` apart."""
    return [Point(c.id, e, n, tuple((1.0 + n / rates[c.id]) * (1 + d) for d in (-spread, 0.0, spread)), 0,
                  n * JPEG_BYTES_AN_IMAGE, model=model)
            for c in STUDY_CASES for e, rates in (("cold", cold), ("warm", warm)) for n in sizes]


def predictor(ram=16 * GB, disk=10**13, points=None, bandwidths=(), **kwargs) -> Predictor:
    settings = StudySettings(sizes=SIZES, ram_budget=ram, **kwargs.pop("settings", {}))
    measured = Measured(points or synthetic_points(), cores=2, device="CPU", bandwidths=list(bandwidths),
                        free_disk_bytes=disk)
    return Predictor(settings, measured, **kwargs)


def rows_for(ram: int, disk: int = 10**13, **kwargs):
    return {r.case.id: r for r in predictor(ram, disk, **kwargs).rows(COCO)}


def test_a_memory_cache_larger_than_the_budget_does_not_fit_and_says_by_how_much():
    rows = rows_for(16 * GB)
    for case in ("tfdata-memory-float32", "tfdata-memory-uint8"):  # 70.6 GB and 17.7 GB: neither fits 16 GB
        assert not rows[case].fits and rows[case].epoch(False) is None
        assert rows[case].note.startswith("does not fit:") and "16.0 GB of RAM" in rows[case].note
    assert "70.6 GB" in rows["tfdata-memory-float32"].note
    roomy = rows_for(64 * GB)
    assert roomy["tfdata-memory-uint8"].fits and not roomy["tfdata-memory-float32"].fits
    text = "\n".join(table_lines(list(rows_for(16 * GB).values())))
    assert "does not fit: 70.6 GB > 16.0 GB of RAM" in text and re.search(r"\d+\.\d min \(\d+\.\d-\d+\.\d\)", text)
    assert rows_for(20 * GB)["tfdata-memory-uint8"].note == (
        "does not fit: 17.7 GB + margin and working set = 22.3 GB > 20.0 GB of RAM")


def test_later_epochs_without_a_cache_read_storage_when_the_jpegs_exceed_the_page_cache():
    """18.4 GB of JPEGs: they stay in 64 GB (the later-epoch law), not in 16 GB (the first-epoch law, with the
    share the page cache misses read again at the JPEGs' probed rates, the slower where it is)"""
    small = rows_for(64 * GB)["tfdata-none-uint8"]
    assert small.later.seconds == pytest.approx(1 + COCO / 900, rel=1e-6) and not small.note
    big = rows_for(16 * GB)["tfdata-none-uint8"]
    assert big.later.seconds == pytest.approx(1 + COCO / 700, rel=1e-6) and "from storage again" in big.note
    slow_disk = [Bandwidth(10**8, 0.0, 0.01 * GB, 0, "/data", "jpegs", 1024)]
    bound = rows_for(16 * GB, bandwidths=slow_disk)["tfdata-none-uint8"]
    assert bound.later.seconds == pytest.approx(0.42 * 18.4e9 / 0.01e9, rel=0.02)  # 10 MB/s: the reads set it


def test_a_file_cache_larger_than_the_free_disk_does_not_fit():
    rows = rows_for(16 * GB, disk=50 * GB)
    assert rows["tfdata-file-uint8"].fits and not rows["tfdata-file-float32"].fits
    assert "free disk" in rows["tfdata-file-float32"].note


def test_a_file_caches_later_epoch_is_bounded_by_reading_it_back_with_the_storages_spread():
    """a 17.7 GB cache read back at 1 GB/s takes 17.7 s, faster than its law (1 + 117,266/3000 = 40 s): the law;
    at 0.1 GB/s, 177 s: the reads, from their low (the JPEG probes' spread, 0.2 and 0.3 GB/s: -20%) up to their
    high plus the law's (the work on the elements may not overlap the reads at all)"""
    probes = [Bandwidth(10**8, 0.0, r * GB, 0, "/data", "jpegs", 1024) for r in (0.2, 0.3)]
    fast = rows_for(64 * GB, bandwidths=[*probes, Bandwidth(18 * GB, 1 * GB, 1 * GB, 0, "/tmp")])
    assert fast["tfdata-file-uint8"].later.seconds == pytest.approx(1 + COCO / 3000, rel=1e-6)
    slow = [*probes, Bandwidth(18 * GB, 0.5 * GB, 0.1 * GB, 0, "/tmp")]
    row = rows_for(64 * GB, bandwidths=slow)["tfdata-file-uint8"]
    law = laws(predictor().measured, None, None)[("tfdata-file-uint8", "warm")].estimate(COCO)
    assert row.later.seconds == pytest.approx(17.7e9 / 0.1e9, rel=0.01)
    assert row.later.low == pytest.approx(0.8 * row.later.seconds, rel=0.01)  # mean time a byte 4.17 ns, -0.83
    assert row.later.high == pytest.approx(1.2 * row.later.seconds + law.high, rel=0.01)


def test_a_file_caches_first_epoch_adds_the_write_that_write_back_does_not_absorb():
    """17.7 GB written at 0.5 GB/s past 2.7 GB of dirty pages: 30 s the pipeline waits, added to its law (the
    cache writes each element as it passes); a cache write-back absorbs whole adds nothing"""
    law = laws(predictor().measured, None, None)[("tfdata-file-uint8", "cold")].estimate(COCO)
    rates = [Bandwidth(18 * GB, 0.5 * GB, 1 * GB, 2.7 * GB, "/tmp")]
    first = rows_for(64 * GB, bandwidths=rates)["tfdata-file-uint8"].first
    assert first.seconds == pytest.approx(law.seconds + 15.0e9 / 0.5e9, rel=0.01)
    assert (first.low, first.high) == pytest.approx((law.low + 30.0, law.high + 30.0), rel=0.01)
    absorbed = [replace(rates[0], dirty_bytes=20 * GB)]
    assert rows_for(64 * GB, bandwidths=absorbed)["tfdata-file-uint8"].first.seconds == pytest.approx(law.seconds)


# --- step 5: the recommendation ------------------------------------------------------------------------------

def test_the_recommendation_takes_the_fastest_row_that_fits_with_its_interval_and_speedup():
    advice = recommend(list(rows_for(64 * GB).values()), 64 * GB)
    assert advice.row.case.id == "tfdata-memory-uint8"  # 9000 img/s; float32 (12000) does not fit 64 GB
    assert re.search(r"\d+\.\d s \(\d+\.\d-\d+\.\d\) an epoch, \d+\.\dx ImageDataGenerator", advice.reason)
    assert "fits in 17.7 GB of 64.0 GB" in advice.reason and "Faster but too big" in advice.reason
    assert recommend(list(rows_for(16 * GB).values()), 16 * GB).row.case.id == "tfdata-file-uint8"
    starved = recommend(list(rows_for(16 * GB, disk=10 * GB).values()), 16 * GB)
    assert starved.row.case.id == "tfdata-none-uint8"


def test_the_recommendation_says_when_the_runner_up_is_within_its_uncertainty():
    close = dict(WARM, **{"tfdata-file-uint8": 8800})  # 2% from the memory cache, rounds 10% apart: overlap
    rows = list(predictor(64 * GB, points=synthetic_points(warm=close, spread=0.1)).rows(COCO))
    advice = recommend(rows, 64 * GB)
    assert advice.tied.case.id == "tfdata-file-uint8" and "Within its uncertainty: tf.data + file" in advice.reason
    apart = recommend(list(predictor(64 * GB, points=synthetic_points(spread=0.01)).rows(COCO)), 64 * GB)
    assert apart.tied is None and "uncertainty" not in apart.reason


def test_on_a_cpu_the_loaders_work_adds_to_the_models_and_measured_training_replaces_composed():
    composed = predictor(64 * GB, model_s_per_image=1 / 500, shares_cpu=True).rows(COCO)
    memory = {r.case.id: r for r in composed}["tfdata-memory-uint8"]
    assert memory.train_later.seconds == pytest.approx(memory.later.seconds + COCO / 500)
    advice = recommend(composed, 64 * GB, model_bound_s=COCO / 500, shares_cpu=True)
    assert advice.row.case.id == "tfdata-memory-uint8" and "loader's work adds" in advice.reason
    accelerator = predictor(64 * GB, model_s_per_image=1 / 500).rows(COCO)  # overlapped: the slower of the two
    assert {r.case.id: r for r in accelerator}["tfdata-memory-uint8"].train_later.seconds == pytest.approx(COCO / 500)
    trained = {"idg-none-float32": 300, "tfdata-none-uint8": 420, "tfdata-memory-uint8": 480,
               "tfdata-memory-float32": 480, "tfdata-file-uint8": 495, "tfdata-file-float32": 490,
               "grain-none-uint8": 380}
    points = synthetic_points() + synthetic_points(warm=trained, model="accelerator")
    measured = predictor(64 * GB, points=points, trained="accelerator", model_s_per_image=1 / 500).rows(COCO)
    assert recommend(measured, 64 * GB).row.case.id == "tfdata-file-uint8"
    assert "training later" in table_lines(measured)[0]


# --- step 6: the held-out check ------------------------------------------------------------------------------

def test_coverage_counts_the_epochs_of_a_second_or_more_inside_their_interval():
    epochs = [HeldOut("a", "cold", 10.0, 9.0, 11.0, 10.5), HeldOut("a", "warm", 2.0, 1.5, 2.5, 3.0),
              HeldOut("b", "cold", 4.0, 2.0, 6.0, 4.0), HeldOut("b", "warm", 0.2, 0.1, 0.3, 0.9)]
    found = coverage(epochs)
    assert (found.within, found.of) == (2, 3) and found.median_half_width == pytest.approx(0.25)
    assert COUNTED_S == 1.0 and coverage(epochs[3:]) is None
    assert "2 of 3 epochs of 1 s or more inside their interval; median half-width 25%" in found.line(12_000)


def saved_study(path, model_alone=None, device="CPU: the measuring machine", held_out_factor=1.0):
    """A study.json as the command writes it: smoke-shaped points at 6, 9 and 12 images, three rounds each, the
    12-image epochs ``held_out_factor`` times the line's."""
    points = [Point(case.id, epoch, n, tuple((0.5 + 0.1 * n) * f * (held_out_factor if n == 12 else 1)
                                              for f in (0.95, 1.0, 1.05)),
                    1000 * n if case.cache == "file" else 0, 16_000 * n)
              for n in (6, 9, 12) for case in STUDY_CASES for epoch in ("cold", "warm")]
    path.write_text(json.dumps({"settings": {"preset": "smoke"}, "points": [p.__dict__ for p in points],
                                "cores": 2, "device": device, "model_alone": model_alone}))
    return path


@pytest.mark.parametrize(("factor", "within"), [(1.0, 14), (1.3, 0)])
def test_points_count_the_held_out_epochs_inside_their_intervals(tmp_path, capsys, factor, within):
    """every held-out epoch lies on the fitted sizes' line (1.7 s, inside), or 30% above it (outside: rounds
    ±5% apart allow ±17% for a median of three at 12 images)"""
    out = tmp_path / "out"
    points = saved_study(tmp_path / "study.json", held_out_factor=factor)
    assert main(["--points", str(points), "--held-out", "12", "--no-model", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    saved = json.loads((out / "study.json").read_text())
    rounds = [(n, tuple((0.5 + 0.1 * n) * f for f in (0.95, 1.0, 1.05))) for n in (6, 9)]
    half_width = fit_law(rounds).estimate(12, epochs=3).half_width
    assert saved["coverage"] == {"within": within, "of": 14, "median_half_width": pytest.approx(half_width, abs=1e-4)}
    assert 0.1 < half_width < 0.25
    assert len(saved["held_out"]) == 14 and set(saved["held_out"][0]) == {
        "case", "epoch", "predicted_s", "low_s", "high_s", "measured_s", "model"}
    assert f"coverage at 12 images held out: {within} of 14 epochs" in printed


# --- the command and what it measures ------------------------------------------------------------------------

def test_settings_refuse_what_cannot_be_measured():
    with pytest.raises(ValueError, match="held-out"):
        StudySettings(sizes=(250, 500), held_out=500)
    with pytest.raises(ValueError, match="two distinct sizes"):
        StudySettings(sizes=(500, 500))
    with pytest.raises(ValueError, match="--min-round-s"):
        StudySettings(min_round_s=-1)
    assert StudySettings(accelerator=2000).measures_training and not StudySettings().measures_training
    assert not StudySettings(accelerator=2000, model=False).measures_training
    settings = StudySettings(sizes=(250, 500), held_out=12_000, rounds=3, held_out_rounds=2, min_round_s=0.5)
    assert settings.plan_at(250) == RoundPlan(3, 0.5) and settings.plan_at(12_000) == RoundPlan(2, 0.0)
    narrowed = StudySettings(sizes=(250, 500), held_out=117266, held_out_rows=("tfdata-none-uint8",))
    assert [c.id for c in STUDY_CASES if narrowed.measures_row(c.id, 117266)] == ["tfdata-none-uint8"]
    assert all(narrowed.measures_row(c.id, 250) for c in STUDY_CASES)
    with pytest.raises(ValueError, match="case ids among"):
        StudySettings(sizes=(250, 500), held_out=1000, held_out_rows=("tfdata-nope",))


def test_the_study_command_rejects_bad_settings_with_a_message(capsys):
    assert main(["--sizes", "500"]) == 2
    assert "two distinct sizes" in capsys.readouterr().err
    with pytest.raises(SystemExit) as refused:
        main(["--sizes", "a,b"])
    assert refused.value.code == 2 and "argument --sizes: comma-separated" in capsys.readouterr().err


def test_a_row_this_machine_cannot_hold_is_not_measured_and_not_predicted(monkeypatch, tiny_dataset):
    """a memory cache predicted not to fit the RAM available now is left unmeasured with the reason (a 70 GB cache
    would take a 24 GB machine down, not measure it); measured at fewer than two sizes, it gets no row"""
    import pipelines.study.measure as measure

    monkeypatch.setattr(measure, "available_ram", lambda: 10**6)  # 1 MB: no memory cache fits
    holdable = measure._Holdable(StudySettings(preset="smoke", sizes=(6, 9)), None)
    memory, none = Case("tfdata", "memory", "float32"), Case("tfdata", "none", "uint8")
    assert "exceeds RAM" in holdable(memory, tiny_dataset) and holdable(none, tiny_dataset) is None
    assert holdable(memory, tiny_dataset) == holdable.unmeasured[0].reason and len(holdable.unmeasured) == 1
    assert holdable.unmeasured[0].line().startswith(f"{memory.id} at 11 images not measured: exceeds RAM")
    points = [p for p in synthetic_points() if p.case != memory.id or p.images == 250]
    rows = predictor(64 * GB, points=points).rows(COCO)
    assert memory not in [r.case for r in rows] and len(rows) == len(STUDY_CASES) - 1


def test_a_row_whose_loader_is_not_installed_is_named_not_measured(monkeypatch, tiny_dataset):
    import pipelines.study.measure as measure
    from tests.helpers import requiring

    requiring(monkeypatch, "grain", "nosuchpackage_loaderbench_grain")
    holdable = measure._Holdable(StudySettings(preset="smoke", sizes=(6, 9)), None)
    assert "pip install '.[grain]'" in holdable(Case("grain", "none", "uint8"), tiny_dataset)
    assert holdable.unmeasured[0].line().startswith("grain-none-uint8 at 11 images not measured: Grain needs")


def measurable_rows() -> list[Case]:
    """The study's rows this installation can measure (Grain's only where its extra is installed)."""
    return [c for c in STUDY_CASES if not LOADER_SPECS[c.loader].missing()]


@pytest.mark.slow
def test_the_study_command_end_to_end_on_a_tiny_dataset(tmp_path, capsys):
    """generate, measure every row at two sizes, a held-out one and on fewer cores, predict with intervals,
    recommend, count the coverage, write the three files; then predict again from them, measuring nothing"""
    from pipelines.study.children import fewer_cores

    out = tmp_path / "out"
    code = main(["--preset", "smoke", "--sizes", "6,9", "--held-out", "12", "--full-images", "300", "--no-model",
                 "--rounds", "1", "--min-round-s", "0", "--data-root", str(tmp_path / "data"),
                 "--cache-dir", str(tmp_path / "caches"), "--out", str(out)])
    printed = capsys.readouterr().out
    assert code == 0, printed
    assert "ImageDataGenerator" in printed and "Recommended:" in printed and "coverage at 12 images" in printed
    assert (out / "study.md").read_text().count("|") > 20 and (out / "study.png").stat().st_size > 0
    saved = json.loads((out / "study.json").read_text())
    fewer, rows = fewer_cores(), measurable_rows()
    assert {(p["images"], p["case"], p["epoch"], p["cores"]) for p in saved["points"]} == {
        (n, c.id, e, None) for n in (6, 9, 12) for c in rows for e in ("cold", "warm")} | {
        (9, c.id, e, k) for k in fewer for c in rows for e in ("cold", "warm")}
    assert ("Parallelism" in printed) == bool(fewer)
    assert len(saved["held_out"]) == 2 * len(rows) and saved["recommendation"]["case"] in {c.id for c in rows}
    assert saved["model_alone"] is None and saved["device"].startswith(("CPU", "GPU"))
    assert saved["resident_bytes"] > 0 and saved["free_disk_bytes"] > 0
    assert {b["when"] for b in saved["bandwidths"] if b["kind"] == "jpegs"} == {"before the epochs",
                                                                                "after the epochs"}
    assert list((tmp_path / "caches").iterdir()) == []

    again = tmp_path / "again"  # predicted again from the saved points, for a tiny RAM budget: nothing measured
    assert main(["--points", str(out / "study.json"), "--held-out", "12", "--full-images", "300", "--no-model",
                 "--ram-budget", "1MB", "--out", str(again)]) == 0
    printed = capsys.readouterr().out
    assert "smoke at full size: 300 images" in printed and "does not fit" in printed
    assert main(["--points", str(out / "study.json"), "--preset", "coco2017", "--out", str(again)]) == 2
    assert "measured on smoke" in capsys.readouterr().err


@pytest.mark.slow
def test_a_stopped_study_keeps_its_points_and_resume_measures_only_the_rest(tmp_path, capsys, monkeypatch):
    """stopped after 5 points: study.partial.json holds those 5; --resume measures the others and no more, and the
    file is gone once study.json is written; a resume under other settings is refused, naming what differs"""
    import pipelines.study.children as children

    out = tmp_path / "out"
    args = ["--preset", "smoke", "--sizes", "6,9", "--no-model", "--no-levels", "--rounds", "1", "--min-round-s",
            "0", "--data-root", str(tmp_path / "data"), "--out", str(out)]
    real_point, real_fresh, calls = children.measure_point, first_epoch_here(), []

    def counted(real, case_at: int):
        def measured(*a, **k):
            if len(calls) == 5 and stop:
                raise KeyboardInterrupt  # the run is stopped
            calls.append(a[case_at].id)
            return real(*a, **k)
        return measured

    # every point, measured here or (a memory cache's first epoch) in a child of its own
    monkeypatch.setattr(children, "measure_point", counted(real_point, 0))
    monkeypatch.setattr(children, "fresh_first_epoch", counted(real_fresh, 1))
    stop = True
    with pytest.raises(KeyboardInterrupt):
        main(args)
    partial = json.loads((out / "study.partial.json").read_text())
    kept, disk = partial["points"], partial["state"]["free_disk_bytes"]
    assert len(kept) == 5 and not (out / "study.json").exists() and disk > 0
    assert main(args[:-4] + ["--seed", "1"] + args[-4:] + ["--resume"]) == 2
    assert "was measured with another seed" in capsys.readouterr().err
    assert main(args) == 2  # without --resume: refused, the stopped run's points untouched
    assert "add --resume" in capsys.readouterr().err
    assert len(json.loads((out / "study.partial.json").read_text())["points"]) == 5
    stop, calls[:] = False, []
    monkeypatch.setattr("pipelines.study.measure.free_disk", lambda folder: 10**15)  # the disk has changed since
    assert main(args + ["--resume"]) == 0
    total = 2 * 2 * len(measurable_rows())
    assert len(calls) == total - 5 and "resuming from" in capsys.readouterr().err
    saved = json.loads((out / "study.json").read_text())
    assert len(saved["points"]) == total and not (out / "study.partial.json").exists()
    assert saved["free_disk_bytes"] == disk  # the state the reused points were measured in, not the disk's now


def test_the_fitted_sizes_are_measured_round_by_round_and_a_stopped_run_resumes_mid_round(monkeypatch, tmp_path):
    """interleaved: the first round of every size and row before any second round, each point's rounds in the
    order measured; a checkpoint holding first rounds only: the second rounds are measured, nothing else"""
    from types import SimpleNamespace

    from pipelines.study import children
    from pipelines.study.checkpoint import Checkpoint

    calls = []

    def timed(case, epoch, index, base, plan, model=None):
        calls.append((index.images, case.id, epoch, plan.rounds))
        return Point(case.id, epoch, index.images, (float(len(calls)),), 0, 0)

    monkeypatch.setattr(children, "measure_point", timed)
    indexes = [SimpleNamespace(images=n) for n in (6, 9)]
    rows, settings = STUDY_CASES[:2], StudySettings(preset="smoke", sizes=(6, 9), rounds=2)
    checkpoint = Checkpoint(tmp_path / "study.partial.json", settings)
    points = children.measure_sizes(indexes, settings.contract, settings.plan_at, lambda n: rows,
                                    checkpoint=checkpoint, interleaved=True)
    per_round = 2 * len(rows) * 2  # sizes x rows x epoch kinds
    assert len(calls) == 2 * per_round and {c[3] for c in calls} == {1}
    assert [c[:3] for c in calls[:per_round]] == [c[:3] for c in calls[per_round:]]  # every first round first
    assert all(p.seconds[1] - p.seconds[0] == per_round for p in points) and len(points) == per_round
    first_rounds = {key: replace(p, seconds=p.seconds[:1]) for key, p in checkpoint.points.items()}
    resumed = Checkpoint(checkpoint.path, settings, points=first_rounds)
    calls.clear()
    again = children.measure_sizes(indexes, settings.contract, settings.plan_at, lambda n: rows,
                                   checkpoint=resumed, interleaved=True)
    assert len(calls) == per_round and all(len(p.seconds) == 2 for p in again)


def first_epoch_here():
    """A memory cache's first epochs timed in this process: what a test of something else measures, sparing it a
    child a round (each a TensorFlow import; the end-to-end test starts the real ones)."""
    from pipelines.datasets import prepare_dataset
    from pipelines.study import children

    measure_point = children.measure_point  # this one, should a test count the calls to the module's

    def first_epoch(settings, case, images, plan, model):
        index = prepare_dataset(None, settings.preset, images, settings.seed, settings.data_root)
        return measure_point(case, "cold", index, settings.contract, plan,
                             children.study_model(settings) if model else None)
    return first_epoch


def test_a_child_times_a_rows_first_epochs_training_the_accelerator(tmp_path):
    """the child a memory cache's first epoch runs in, called here: its point, the model trained named"""
    from pipelines.study import children

    out = tmp_path / "points.json"
    assert children.main(["--preset", "smoke", "--images", "6", "--seed", "0", "--rounds", "1", "--rows",
                          "tfdata-memory-uint8", "--accelerator", "2000", "--data-root", str(tmp_path / "data"),
                          "--out", str(out)]) == 0
    [point] = json.loads(out.read_text())["points"]
    assert (point["case"], point["epoch"], point["images"], len(point["seconds"]), point["model"]) == (
        "tfdata-memory-uint8", "cold", 6, 1, "emulated_2000_img_s")


@pytest.mark.slow
def test_the_study_command_measures_training_epochs_with_an_accelerator(tmp_path, capsys, monkeypatch):
    """--accelerator: model.fit epochs timed at every size, their laws in the table and in the held-out check"""
    monkeypatch.setattr("pipelines.study.children.fresh_first_epoch", first_epoch_here())
    out = tmp_path / "out"
    assert main(["--preset", "smoke", "--sizes", "6,9", "--held-out", "12", "--full-images", "12",
                 "--accelerator", "2000", "--no-levels", "--rounds", "1", "--min-round-s", "0",
                 "--data-root", str(tmp_path / "data"), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "training later" in printed and " later training: measured" in printed
    saved = json.loads((out / "study.json").read_text())
    trained = {(p["images"], p["case"], p["epoch"]) for p in saved["points"] if p["model"] == "emulated_2000_img_s"}
    assert trained == {(n, c.id, e) for n in (6, 9, 12) for c in measurable_rows() for e in ("cold", "warm")}
    assert {e["model"] for e in saved["held_out"]} == {None, "emulated_2000_img_s"}


def test_points_measure_nothing_and_reuse_the_recorded_model_rate(tmp_path, capsys, monkeypatch):
    """--points: no dataset, no epoch, no MobileNet timed; the rate and device come from the file, and are kept"""
    import pipelines.study.run as study

    def measuring(*args, **kwargs):
        raise AssertionError("--points measured something")

    monkeypatch.setattr(study, "measure", measuring)
    points = saved_study(tmp_path / "study.json", {"model": "mobilenet_1", "images_per_sec": 194.0})
    out = tmp_path / "again"
    assert main(["--points", str(points), "--held-out", "12", "--full-images", "300", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "MobileNet alone 194 img/s" in printed and "measured on CPU: the measuring machine at 6, 9 images" in printed
    saved = json.loads((out / "study.json").read_text())
    assert saved["model_alone"] == {"model": "mobilenet_1", "images_per_sec": 194.0}
    assert saved["device"] == "CPU: the measuring machine"


def test_points_without_a_model_rate_are_refused_unless_no_model_or_an_accelerator(tmp_path, capsys):
    points = saved_study(tmp_path / "study.json")
    assert main(["--points", str(points), "--out", str(tmp_path / "a")]) == 2
    assert capsys.readouterr().err.strip() == (
        f"python -m pipelines.study: error: --points {points}: no mobilenet_1 rate recorded (its study ran with "
        "--no-model or --accelerator), and --points measures nothing: add --no-model (loader epochs only) or "
        "--accelerator N, or run the study again without --points")
    assert main(["--points", str(points), "--no-model", "--out", str(tmp_path / "b")]) == 0
    assert "no model" in capsys.readouterr().out
    assert main(["--points", str(points), "--accelerator", "1000", "--out", str(tmp_path / "c")]) == 0
    assert "emulated accelerator 1000 img/s" in capsys.readouterr().out


@pytest.mark.parametrize(("options", "message"), [
    (["--sizes", "6,9"], "--points measures nothing, so --sizes would do nothing with it: leave it out"),
    (["--rounds", "5", "--no-levels"], "so --rounds, --no-levels would do nothing with it: leave them out"),
    (["--held-out", "4000"], "--held-out 4,000: --points .* measured no such size \\(it holds 6, 9, 12\\)"),
])
def test_points_refuse_options_that_would_do_nothing(tmp_path, capsys, options, message):
    points = saved_study(tmp_path / "study.json")
    assert main(["--points", str(points), "--no-model", *options, "--out", str(tmp_path / "out")]) == 2
    assert re.search(message, capsys.readouterr().err)
    assert not (tmp_path / "out").exists()


def test_case_ids_of_the_study_rows_are_benchmark_cases():
    from pipelines.harness.cases import THROUGHPUT_CASES

    assert set(STUDY_CASES) <= set(THROUGHPUT_CASES) and Case("idg", "none", "float32") in STUDY_CASES


def test_the_levels_double_from_one_core_and_each_child_times_rounds_as_the_all_cores_point(monkeypatch, tmp_path):
    """a level is read against the all-cores point of its size, so its child is asked for the same rounds"""
    import subprocess

    from pipelines.study import children as levels

    assert levels.core_levels(1) == (1,) and levels.core_levels(6) == (1, 2, 4, 6)
    asked = []

    def child(command, **kwargs):
        asked.append(command)
        out = command[command.index("--out") + 1]
        with open(out, "w") as answer:
            json.dump({"points": [Point("tfdata-none-uint8", "warm", 9, (0.1,), 0, 1, cores=1).__dict__]}, answer)
        return subprocess.CompletedProcess(command, 0, "", "")

    monkeypatch.setattr(levels.subprocess, "run", child)
    monkeypatch.setattr(levels, "fewer_cores", lambda: (1,))
    settings = StudySettings(preset="smoke", sizes=(6, 9, 12), rounds=3, min_round_s=0.5,
                             contract=StudySettings().contract.__class__(cache_dir=tmp_path))
    points = levels.measure_levels(settings)
    assert [p.cores for p in points] == [1]
    command = asked[0]
    assert command[command.index("--rounds") + 1] == "3" and command[command.index("--min-round-s") + 1] == "0.5"
    assert command[command.index("--images") + 1] == "9" and command[command.index("--cores") + 1] == "1"
