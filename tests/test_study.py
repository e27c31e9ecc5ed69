"""The study: laws fitted to measured sizes, the full-size table's rules, the recommendation, the command, the grid."""

from __future__ import annotations

import json
import re
from dataclasses import asdict, replace

import numpy as np
import pytest

from pipelines.harness.cases import Case
from pipelines.harness.plan import RoundPlan
from pipelines.loaders.contract import Contract
from pipelines.loaders.registry import LOADER_SPECS
from pipelines.study.settings import StudySettings
from pipelines.study.__main__ import main
from pipelines.study.check import Check, check_recommendation
from pipelines.study import grid
from pipelines.study.pinning import can_pin, core_levels, fewer_cores
from pipelines.study.stages import STAGES, StageCost, predicted_rate, stage_costs
from pipelines.study.extrapolate import Law, fit_law, held_out_error
from pipelines.study.recommend import recommend
from pipelines.study.scaling import STUDY_CASES, Point
from tests.conftest import SMALL_CONTRACT
from pipelines.study.table import combined_s, levels_lines, series, study_rows, table_lines, with_training

GB = 10**9
COCO = 117_266
COCO_JPEG_BYTES = 18 * GB


def noisy_points(fixed: float, per_image: float, sizes=(250, 500, 1000), rounds=3, noise=0.03, seed=0):
    rng = np.random.default_rng(seed)
    return [(n, (fixed + per_image * n) * (1 + rng.uniform(-noise, noise))) for n in sizes for _ in range(rounds)]


def test_a_known_law_is_recovered_from_noisy_epochs():
    """3% noise, as the rounds here: the per-image cost within 5%, the prediction at 117,266 images within 5%"""
    law = fit_law(noisy_points(0.4, 0.002))
    assert law.per_image_s == pytest.approx(0.002, rel=0.05)
    assert law.seconds(COCO) == pytest.approx(0.4 + 0.002 * COCO, rel=0.05)
    assert law.sizes == (250, 500, 1000)


def test_one_slow_round_a_size_does_not_tilt_the_law():
    """the first cold round of each size waiting on the volume (5x: a cache below the page cache missing), as
    measured for the row that reads each dataset first: the law is that of the other rounds, as the medians say"""
    steady = noisy_points(0.1, 0.0028, noise=0.02)
    first_slow = [(n, s * 5 if i % 3 == 0 else s) for i, (n, s) in enumerate(steady)]
    assert fit_law(first_slow).seconds(3000) == pytest.approx(fit_law(steady).seconds(3000), rel=0.05)


def test_a_held_out_size_measures_the_error_of_the_law():
    exact = noisy_points(0.4, 0.002, sizes=(250, 500, 1000, 4000), noise=0.0)
    assert held_out_error(exact, 4000) == pytest.approx(0.0, abs=1e-9)
    curved = [(n, s * (1.2 if n == 4000 else 1.0)) for n, s in exact]  # the 4000-image epochs 20% slower
    assert held_out_error(curved, 4000) == pytest.approx(1 / 1.2 - 1, rel=1e-6)


def test_a_law_is_never_negative_and_needs_two_sizes():
    law = fit_law([(60, 0.5), (60, 0.52), (96, 0.45)])  # start-up dominates: the raw slope would be negative
    assert law.fixed_s >= 0 and law.per_image_s >= 0 and law.seconds(10**6) >= 0
    with pytest.raises(ValueError, match="two sizes"):
        fit_law([(100, 1.0), (100, 1.1)])


def laws_for(cold_rate: dict[str, float], warm_rate: dict[str, float], fixed: float = 1.0):
    """Hand-made laws: each case's images/s, cold and warm."""
    return {(c.id, e): Law(fixed, 1.0 / rates[c.id], (250, 1000)) for c in STUDY_CASES
            for e, rates in (("cold", cold_rate), ("warm", warm_rate))}


# Rates shaped like this machine's coco2017 measurements: idg slowest, caches fastest once warm.
COLD = {"idg-none-float32": 300, "tfdata-none-uint8": 700, "tfdata-memory-uint8": 650,
        "tfdata-memory-float32": 600, "tfdata-file-uint8": 550, "tfdata-file-float32": 400, "grain-none-uint8": 320}
WARM = {"idg-none-float32": 350, "tfdata-none-uint8": 900, "tfdata-memory-uint8": 9000,
        "tfdata-memory-float32": 12000, "tfdata-file-uint8": 3000, "tfdata-file-float32": 1500,
        "grain-none-uint8": 410}


def rows_for(ram: int, disk: int = 10**13, jpeg_bytes: int = COCO_JPEG_BYTES):
    return study_rows(STUDY_CASES, laws_for(COLD, WARM), COCO, jpeg_bytes, Contract(), ram, disk)


def by_case(rows):
    return {r.case.id: r for r in rows}


def test_a_memory_cache_larger_than_the_budget_does_not_fit_and_says_by_how_much():
    rows = by_case(rows_for(16 * GB))
    for case in ("tfdata-memory-float32", "tfdata-memory-uint8"):  # 70.6 GB and 17.7 GB: neither fits 16 GB
        assert not rows[case].fits and rows[case].later_s is None
        assert rows[case].note.startswith("does not fit:") and "16.0 GB of RAM" in rows[case].note
    assert "70.6 GB" in rows["tfdata-memory-float32"].note
    roomy = by_case(rows_for(64 * GB))
    assert roomy["tfdata-memory-uint8"].fits and not roomy["tfdata-memory-float32"].fits
    text = "\n".join(table_lines(rows_for(16 * GB)))
    assert "does not fit: 70.6 GB > 16.0 GB of RAM" in text
    # smaller than the budget, but not with the margin and the working set: the note says what it needs
    assert by_case(rows_for(20 * GB))["tfdata-memory-uint8"].note == (
        "does not fit: 17.7 GB + margin and working set = 22.3 GB > 20.0 GB of RAM")


def test_later_epochs_without_a_cache_read_storage_when_the_jpegs_exceed_the_page_cache():
    small = by_case(rows_for(64 * GB))["tfdata-none-uint8"]
    assert small.later_s == pytest.approx(small.warm.seconds(COCO)) and not small.note
    big = by_case(rows_for(16 * GB))["tfdata-none-uint8"]
    assert big.later_s == pytest.approx(big.cold.seconds(COCO)) and "from storage" in big.note


def test_a_file_cache_larger_than_the_free_disk_does_not_fit():
    rows = by_case(rows_for(16 * GB, disk=50 * GB))
    assert rows["tfdata-file-uint8"].fits and not rows["tfdata-file-float32"].fits
    assert "free disk" in rows["tfdata-file-float32"].note


def test_recommendation_input_bound_with_room_takes_the_fastest_cache():
    advice = recommend(rows_for(64 * GB), COCO, model_images_per_sec=20_000, ram_budget=64 * GB)
    assert advice.row.case.id == "tfdata-memory-uint8"  # 9000 img/s; float32 (12000) does not fit 64 GB
    assert "fits in 17.7 GB of 64.0 GB" in advice.reason and "faster than without a cache" in advice.reason
    assert "loader is the bottleneck" in advice.reason


def test_recommendation_ram_limited_falls_back_to_the_file_cache():
    advice = recommend(rows_for(16 * GB), COCO, model_images_per_sec=20_000, ram_budget=16 * GB)
    assert advice.row.case.id == "tfdata-file-uint8" and "on disk" in advice.reason


def test_recommendation_disk_and_ram_limited_reads_the_jpegs():
    advice = recommend(rows_for(16 * GB, disk=10 * GB), COCO, model_images_per_sec=20_000, ram_budget=16 * GB)
    assert advice.row.case.id == "tfdata-none-uint8"


def test_recommendation_of_tied_epochs_takes_the_faster_loader_and_names_the_cheaper_one():
    """at 2500 img/s the model sets the epoch for both uint8 caches (the JPEGs are too slow): the faster loader
    is recommended (prefetching overlaps a step only partly), and the disk cache named as just as fast"""
    advice = recommend(rows_for(64 * GB), COCO, model_images_per_sec=2500, ram_budget=64 * GB)
    assert advice.row.case.id == "tfdata-memory-uint8" and "model is the bottleneck" in advice.reason
    assert advice.alternative.case.id == "tfdata-file-uint8"
    assert "file cache (uint8) is within 0% of it (the prediction's error) and holds 17.7 GB on disk, not in RAM" \
        in advice.reason


def test_recommendation_compute_bound_names_no_cache_as_just_as_fast():
    """an accelerator at 500 img/s sets every epoch: no cache is named as within the error, holding nothing"""
    advice = recommend(rows_for(64 * GB), COCO, model_images_per_sec=500, ram_budget=64 * GB)
    assert advice.epoch_s == pytest.approx(COCO / 500)
    assert advice.alternative.case.id == "tfdata-none-uint8" and "holds nothing" in advice.reason
    assert "model is the bottleneck" in advice.reason


def test_on_a_cpu_the_loaders_work_adds_to_the_models():
    """the same model on the loader's cores: every second of loading adds, so the cheapest later epoch wins"""
    assert combined_s(2.0, 10.0, shares_cpu=True) == 12.0 and combined_s(2.0, 10.0, shares_cpu=False) == 10.0
    assert combined_s(None, 10.0, shares_cpu=True) is None and combined_s(2.0, None, shares_cpu=True) == 2.0
    advice = recommend(rows_for(64 * GB), COCO, model_images_per_sec=500, ram_budget=64 * GB, cpu_only=True)
    assert advice.row.case.id == "tfdata-memory-uint8"
    assert advice.epoch_s == pytest.approx(COCO / 500 + 1.0 + COCO / 9000)
    assert "loader's work adds" in advice.reason


def test_measured_training_epochs_replace_the_composed_ones_in_the_table_and_the_recommendation():
    """an accelerator at 500 img/s composes to a tie (the model sets every epoch; the faster loader, the memory
    cache, is taken), but measured training epochs that rank the uint8 file cache first make it the pick"""
    rows = rows_for(64 * GB)
    measured = {"idg-none-float32": 300, "tfdata-none-uint8": 420, "tfdata-memory-uint8": 480,
                "tfdata-memory-float32": 480, "tfdata-file-uint8": 495, "tfdata-file-float32": 490,
                "grain-none-uint8": 380}
    training = study_rows(STUDY_CASES, laws_for(COLD, measured), COCO, COCO_JPEG_BYTES, Contract(), 64 * GB, 10**13)
    trained = with_training(rows, training)
    assert all(r.trained for r in trained) and not any(r.trained for r in rows)
    assert recommend(rows, COCO, 500, 64 * GB).row.case.id == "tfdata-memory-uint8"
    advice = recommend(trained, COCO, 500, 64 * GB)
    assert advice.row.case.id == "tfdata-file-uint8" and advice.epoch_s == pytest.approx(1.0 + COCO / 495)
    assert "training 1st / later (measured)" in table_lines(trained, model_s=COCO / 500)[0]
    assert "(loader + model)" in table_lines(rows, model_s=COCO / 500)[0]


def test_settings_refuse_a_held_out_size_that_is_fitted_and_a_single_size():
    with pytest.raises(ValueError, match="held-out"):
        StudySettings(sizes=(250, 500), held_out=500)
    with pytest.raises(ValueError, match="two distinct sizes"):
        StudySettings(sizes=(500, 500))
    with pytest.raises(ValueError, match="measured or composed"):
        StudySettings(training="guessed")
    assert StudySettings(accelerator=2000).measures_training and not StudySettings().measures_training
    assert StudySettings(training="measured").measures_training
    assert not StudySettings(accelerator=2000, training="composed").measures_training
    assert not StudySettings(accelerator=2000, model=False).measures_training
    with pytest.raises(ValueError, match="--min-round-s"):
        StudySettings(min_round_s=-1)


def test_a_fitted_size_is_timed_in_rounds_of_at_least_min_round_s_and_the_held_out_size_one_epoch_a_round():
    settings = StudySettings(sizes=(250, 500), held_out=12_000, rounds=3, held_out_rounds=2, min_round_s=0.5)
    assert settings.plan_at(250) == RoundPlan(rounds=3, min_round_s=0.5)
    assert settings.plan_at(12_000) == RoundPlan(rounds=2, min_round_s=0.0)


def test_a_point_timed_in_rounds_of_several_epochs_keeps_a_time_and_the_faults_of_an_epoch_a_round(tiny_dataset):
    """rounds of several short epochs (an 11-image warm epoch lasts milliseconds): one time a round, per epoch,
    and the page faults of an epoch a round (their mean), as the kernel's share is read beside the time"""
    from pipelines.study.scaling import measure_point

    case = Case("tfdata", "memory", "uint8")
    several = measure_point(case, "warm", tiny_dataset, SMALL_CONTRACT, RoundPlan(rounds=2, min_round_s=0.2))
    assert len(several.seconds) == 2 and len(several.faults) == 2 and all(s < 0.2 for s in several.seconds)
    assert all(f.seconds == pytest.approx(s, rel=0.5) for f, s in zip(several.faults, several.seconds))  # an epoch's
    one = measure_point(case, "warm", tiny_dataset, SMALL_CONTRACT, RoundPlan(rounds=2, min_round_s=0.0))
    assert len(one.seconds) == 2 and len(one.faults) == 2


def test_an_epoch_of_a_rounds_faults_is_their_mean():
    from pipelines.epoch.faults import PageFaults
    from pipelines.study.scaling import per_round_faults
    from pipelines.epoch.run import EpochRun

    runs = [EpochRun(images=1, batches=1, seconds=s, first_batch_s=0.0, faults=PageFaults(f, k, s))
            for f, k, s in ((10, 1.0, 2.0), (20, 3.0, 4.0), (5, 0.5, 1.0), (7, 0.5, 1.0))]
    assert per_round_faults(runs, 2) == (PageFaults(15, 2.0, 3.0), PageFaults(6, 0.5, 1.0))
    assert per_round_faults(runs, 1) == tuple(run.faults for run in runs)
    assert per_round_faults(runs[:1] + [replace(runs[1], faults=None)], 1) == ()  # one not counted: none


def measurable_rows() -> list[Case]:
    """The study's rows this installation can measure (Grain's only where its extra is installed)."""
    return [c for c in STUDY_CASES if not LOADER_SPECS[c.loader].missing()]


@pytest.mark.slow
def test_the_study_command_end_to_end_on_a_tiny_dataset(tmp_path, capsys):
    """generate, measure every row at two sizes and a held-out one, predict, recommend, write the three files"""
    out = tmp_path / "out"
    code = main(["--preset", "smoke", "--sizes", "6,9", "--held-out", "12", "--full-images", "300", "--no-model",
                 "--rounds", "1", "--min-round-s", "0", "--data-root", str(tmp_path / "data"), "--cache-dir", str(tmp_path / "caches"),
                 "--out", str(out)])
    printed = capsys.readouterr().out
    assert code == 0, printed
    assert "ImageDataGenerator" in printed and "Recommended:" in printed and "held out" in printed
    assert (out / "study.md").read_text().count("|") > 20 and (out / "study.png").stat().st_size > 0
    saved = json.loads((out / "study.json").read_text())
    fewer = fewer_cores()
    rows = measurable_rows()
    assert {(p["images"], p["case"], p["epoch"], p["cores"]) for p in saved["points"]} == {
        (n, c.id, e, None) for n in (6, 9, 12) for c in rows for e in ("cold", "warm")} | {
        (9, c.id, e, k) for k in fewer for c in rows for e in ("cold", "warm")}
    assert [s["stage"] for s in saved["stages"]] == list(STAGES)  # measured on one core, 9 images
    assert "Stage costs on one thread" in printed and ("Parallelism" in printed) == bool(fewer)
    assert "check at 12 images (held out, loader epochs)" in printed  # no model: the loaders' epochs are checked
    assert saved["check"]["verdict"] in ("match", "within noise", "miss") and saved["check"]["images"] == 12
    assert len(saved["held_out_errors"]) == 2 * len(rows)
    assert saved["model_alone"] is None and saved["device"].startswith(("CPU", "GPU"))  # for a later --points
    assert saved["resident_bytes"] > 0  # this process's part of a RAM budget, kept from the page cache
    assert saved["free_disk_bytes"] > 0 and "free disk for file caches" in printed  # kept for reprints
    fills = {(f["placement"], f["when"]) for f in saved["memory_fills"]}  # each cache's dtype, before and after
    assert fills == {(dtype, when) for dtype in ("uint8", "float32") for when in ("before the epochs",
                                                                                 "after the epochs")}
    assert "memory caches' fills" in printed and saved["points"][0]["faults"]  # a fresh byte's cost; each round's
    if any(p["storage"] for p in saved["points"] if p["images"] == 12):  # the disks' counters beside the bytes
        assert "read an epoch" in printed
    assert list((tmp_path / "caches").iterdir()) == []

    again = tmp_path / "again"  # predicted again from the saved points, for a tiny RAM budget: nothing measured
    assert main(["--points", str(out / "study.json"), "--held-out", "12", "--full-images", "300", "--no-model",
                 "--machine-ram", "1MB", "--out", str(again)]) == 0
    printed = capsys.readouterr().out
    assert "smoke at full size: 300 images" in printed and "does not fit" in printed
    assert main(["--points", str(out / "study.json"), "--preset", "coco2017", "--out", str(again)]) == 2
    assert "measured on smoke" in capsys.readouterr().err


@pytest.mark.slow
def test_a_stopped_study_keeps_its_points_and_resume_measures_only_the_rest(tmp_path, capsys, monkeypatch):
    """stopped after 5 points: study.partial.json holds those 5; --resume measures the others and no more, and the
    file is gone once study.json is written; a resume under other settings is refused, naming what differs"""
    import pipelines.study.measuring as measuring
    import pipelines.study.scaling as scaling

    out = tmp_path / "out"
    args = ["--preset", "smoke", "--sizes", "6,9", "--no-model", "--no-levels", "--rounds", "1", "--min-round-s", "0",
            "--data-root", str(tmp_path / "data"), "--out", str(out)]
    real, calls = scaling.measure_point, []

    def measure_point(*a, **k):
        if len(calls) == 5 and stop:
            raise KeyboardInterrupt  # the run is stopped
        calls.append(a[0].id)
        return real(*a, **k)

    monkeypatch.setattr(scaling, "measure_point", measure_point)
    stop = True
    with pytest.raises(KeyboardInterrupt):
        main(args)
    partial = json.loads((out / "study.partial.json").read_text())
    kept, disk = partial["points"], partial["state"]["free_disk_bytes"]
    assert len(kept) == 5 and not (out / "study.json").exists() and disk > 0
    assert main(args[:-4] + ["--seed", "1"] + args[-4:] + ["--resume"]) == 2
    assert "was measured with another seed" in capsys.readouterr().err
    assert main(args) == 2  # without --resume: refused, the stopped run's points untouched
    assert "add --resume" in capsys.readouterr().err and len(json.loads((out / "study.partial.json").read_text())["points"]) == 5
    stop, calls[:] = False, []
    monkeypatch.setattr(measuring, "free_disk", lambda folder: 10**15)  # the disk has changed since
    assert main(args + ["--resume"]) == 0
    total = 2 * 2 * len(measurable_rows())
    assert len(calls) == total - 5 and "resuming from" in capsys.readouterr().err
    saved = json.loads((out / "study.json").read_text())
    assert len(saved["points"]) == total and not (out / "study.partial.json").exists()
    assert saved["free_disk_bytes"] == disk  # the state the reused points were measured in, not the disk's now


@pytest.mark.slow
def test_the_study_command_measures_training_epochs_with_an_accelerator_and_checks_on_them(tmp_path, capsys):
    """--accelerator: model.fit epochs timed at every size, their laws in the table, the check against them"""
    out = tmp_path / "out"
    assert main(["--preset", "smoke", "--sizes", "6,9", "--held-out", "12", "--full-images", "12",
                 "--accelerator", "2000", "--no-levels", "--rounds", "1", "--min-round-s", "0", "--data-root", str(tmp_path / "data"),
                 "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "training 1st / later (measured)" in printed and "held-out error of the measured training" in printed
    assert "check at 12 images (held out, training epochs)" in printed
    saved = json.loads((out / "study.json").read_text())
    trained = {(p["images"], p["case"], p["epoch"]) for p in saved["points"] if p["model"] == "emulated_2000_img_s"}
    assert trained == {(n, c.id, e) for n in (6, 9, 12) for c in measurable_rows() for e in ("cold", "warm")}
    assert saved["stages"] == [] and all(p["cores"] is None for p in saved["points"])


def test_the_study_command_rejects_bad_settings_with_a_message(capsys):
    assert main(["--sizes", "500"]) == 2
    assert "two distinct sizes" in capsys.readouterr().err
    with pytest.raises(SystemExit) as refused:  # argparse's one-line refusal
        main(["--sizes", "a,b"])
    assert refused.value.code == 2 and "argument --sizes: comma-separated" in capsys.readouterr().err


def saved_study(path, model_alone=None, device="CPU: the measuring machine"):
    """A study.json as the command writes it, of points on a smoke-shaped dataset at 6, 9 and 12 images."""
    points = [Point(case.id, epoch, n, (0.01 * n, 0.011 * n), 1000 * n if case.cache == "file" else 0, 16_000 * n)
              for n in (6, 9, 12) for case in STUDY_CASES for epoch in ("cold", "warm")]
    path.write_text(json.dumps({"settings": {"preset": "smoke"}, "points": [p.__dict__ for p in points],
                                "stages": [], "cores": 2, "device": device, "model_alone": model_alone}))
    return path


def test_points_measure_nothing_and_reuse_the_recorded_model_rate(tmp_path, capsys, monkeypatch):
    """--points: no dataset, no epoch, no MobileNet timed; the rate and device come from the file, and are kept"""
    import pipelines.study.run as study

    def measuring(*args, **kwargs):
        raise AssertionError("--points measured something")

    monkeypatch.setattr(study, "measure", measuring)
    monkeypatch.setattr(study, "model_rate", measuring)
    points = saved_study(tmp_path / "study.json", {"model": "mobilenet_1", "images_per_sec": 194.0})
    out = tmp_path / "again"
    assert main(["--points", str(points), "--held-out", "12", "--full-images", "300", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "MobileNet alone 194 img/s (as --points recorded it)" in printed
    assert "measured on CPU: the measuring machine at 6, 9 images" in printed
    saved = json.loads((out / "study.json").read_text())
    assert saved["model_alone"] == {"model": "mobilenet_1", "images_per_sec": 194.0}
    assert saved["device"] == "CPU: the measuring machine"


def test_points_without_a_model_rate_are_refused_unless_no_model_or_an_accelerator(tmp_path, capsys):
    points = saved_study(tmp_path / "study.json")
    assert main(["--points", str(points), "--out", str(tmp_path / "a")]) == 2
    error = capsys.readouterr().err.strip()
    assert error == (f"python -m pipelines.study: error: --points {points}: no mobilenet_1 rate recorded (its study ran with --no-model or "
                     "--accelerator, or is older), and --points measures nothing: add --no-model (loader epochs "
                     "only) or --accelerator N, or run the study again without --points")
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

    assert set(STUDY_CASES) <= set(THROUGHPUT_CASES)
    assert Case("idg", "none", "float32") in STUDY_CASES


def test_core_levels_double_from_one_to_all():
    assert core_levels(1) == (1,)
    assert core_levels(2) == (1, 2)
    assert core_levels(6) == (1, 2, 4, 6)
    assert core_levels(16) == (1, 2, 4, 8, 16)


def test_stage_costs_are_the_differences_of_cumulative_passes_per_image():
    passes = {"read": [1.0, 1.2], "decode": [9.0, 9.4], "resize": [10.0, 10.4], "normalise": [10.5, 11.0],
              "file cache write": [12.0, 12.4], "file cache read": [2.0, 2.0], "memory cache read": [0.5, 0.7]}
    costs = {c.stage: c for c in stage_costs(passes, images=100)}
    assert list(costs) == list(STAGES)
    assert costs["decode"].seconds == pytest.approx((0.08, 0.082))
    assert costs["normalise"].median_s == pytest.approx(0.0055)
    assert costs["file cache write"].seconds == pytest.approx((0.02, 0.02))
    assert costs["memory cache read"].spread_s == pytest.approx(0.001)


def test_a_rows_predicted_rate_is_cores_over_its_stages_cost():
    costs = [StageCost(s, (t,)) for s, t in zip(STAGES, (0.001, 0.006, 0.002, 0.001, 0.001, 0.0005, -0.0001))]
    assert predicted_rate(costs, "tfdata-none-uint8", 1) == pytest.approx(100.0)
    assert predicted_rate(costs, "tfdata-none-uint8", 4) == pytest.approx(400.0)
    assert predicted_rate(costs, "tfdata-memory-uint8", 1) == pytest.approx(1000.0)  # a cost below noise is 0
    assert predicted_rate(costs, "idg-none-float32", 1) is None  # Pillow's work: not these stages


def test_the_levels_table_shows_each_core_count_the_prediction_error_and_the_speedup():
    def point(case, epoch, seconds, cores):
        return Point(case, epoch, 500, (seconds,), 0, 0, cores)

    points = [point("tfdata-none-uint8", "warm", 5.5, 1), point("tfdata-none-uint8", "warm", 2.75, None),
              point("tfdata-none-uint8", "cold", 6.0, 1), point("tfdata-none-uint8", "cold", 4.0, None)]
    costs = [StageCost(s, (t,)) for s, t in zip(STAGES, (0.001, 0.006, 0.002, 0.001, 0.0, 0.0, 0.0))]
    lines = levels_lines(points, costs, 500, [Case("tfdata", "none", "uint8")], all_cores=2)
    row = next(line for line in lines if line.startswith("tf.data"))
    # 91 img/s measured on 1 core and 100 predicted; 182 on 2 and 200 predicted; 1.5x first, 2.0x later epochs
    assert "91 (pred +10%)" in row and "182 (pred +10%)" in row and row.endswith("1.5x / 2.0x")
    assert "decode is 60% of an uncached image's work" in lines[-1]
    assert series(points)[("tfdata-none-uint8", "warm")] == [(500, 2.75)]  # pinned points never enter a law
    assert levels_lines([], [], 500, [], all_cores=2) == []


@pytest.mark.skipif(not can_pin(), reason="this platform cannot pin a process to fewer cores")
def test_a_pinned_child_sees_one_core():
    import subprocess
    import sys

    from pipelines.cleanup.children import child_environment

    probe = ("from pipelines.study.pinning import pin; pin(1); from pipelines.loaders.contract import Contract; "
             "from pipelines.machine import available_cores; print(available_cores(), Contract().workers)")
    done = subprocess.run([sys.executable, "-c", probe], env=child_environment(), capture_output=True, text=True,
                          check=True)
    assert done.stdout.split() == ["1", "1"]


def test_the_check_compares_the_recommendation_with_the_fastest_measured_row_that_fits():
    rows = by_case(study_rows(STUDY_CASES, laws_for(COLD, WARM), 2000, 300 * 10**6, Contract(), 3 * GB // 2, 10**13))
    assert not rows["tfdata-memory-float32"].fits  # 1.2 GB + margin: left out of the comparison

    def measured(seconds: dict[str, tuple[float, ...]], kind: str = "warm"):
        return [Point(case, kind, 2000, rounds, 0, 0, model="m") for case, rounds in seconds.items()]

    fitting = [r for r in rows.values() if r.fits]
    times = {r.case.id: (2.0, 2.0) for r in fitting} | {"tfdata-file-uint8": (1.0, 1.02)}
    match = check_recommendation(list(rows.values()), rows["tfdata-file-uint8"], measured(times), 2000, "m")
    assert match.verdict == "match" and match.fastest == "tfdata-file-uint8" and len(match.epochs) == len(fitting)
    close = times | {"tfdata-memory-uint8": (0.99, 1.01)}  # 1% faster, both rows' rounds spread 1%: within noise
    assert check_recommendation(list(rows.values()), rows["tfdata-file-uint8"], measured(close), 2000,
                                "m").verdict == "within noise"
    far = times | {"tfdata-memory-uint8": (0.8, 0.8)}
    missed = check_recommendation(list(rows.values()), rows["tfdata-file-uint8"], measured(far), 2000, "m")
    assert missed.verdict == "miss" and "fastest measured tfdata-memory-uint8 0.80 s" in missed.line("training")
    assert check_recommendation(list(rows.values()), rows["tfdata-file-uint8"], measured(times), 2000, None) is None
    # JPEGs beyond the budget: the row without a cache is compared on its first-epoch measurement
    tight = by_case(study_rows(STUDY_CASES, laws_for(COLD, WARM), 2000, 3 * GB, Contract(), 3 * GB // 2, 10**13))
    assert tight["tfdata-none-uint8"].later_kind == "cold"
    uncached = {c for c, row in tight.items() if row.later_kind == "cold"}
    assert uncached == {"tfdata-none-uint8", "idg-none-float32", "grain-none-uint8"}
    cold = measured({"tfdata-none-uint8": (0.5, 0.5), "idg-none-float32": (3.0, 3.0), "grain-none-uint8": (1.5, 1.5)},
                    "cold")
    warm = measured({c: t for c, t in times.items() if c not in uncached})
    assert check_recommendation(list(tight.values()), tight["tfdata-none-uint8"], cold + warm, 2000,
                                "m").verdict == "match"


# --- the scenario grid ------------------------------------------------------------------------------------------

def grid_args(out, *options):
    return grid.settings_from_args(grid.build_parser().parse_args([str(out), *options]))


def test_the_grid_measures_once_a_shape_and_model_and_rechecks_the_other_budgets_from_its_points(tmp_path, capsys):
    """every command is one the study itself accepts: the re-checks carry no measuring option"""
    from pipelines.study.__main__ import build_parser, settings_from_args

    settings = grid_args(tmp_path, "--shapes", "smoke:12", "--budgets", "16GB,1MB", "--models",
                         "accelerator=1000,none", "--runs", "2", "--sizes", "6,9", "--rounds", "1", "--no-levels")
    commands = grid.plan(settings, tmp_path)
    assert len(commands) == 2 * 2 * 2 and sum(c.points is None for c in commands) == 4
    measuring, recheck = commands[:2]
    assert measuring.folder == tmp_path / "run-1" / "smoke-12" / "accelerator-1000" / "16.0GB"
    assert measuring.line == ("python -m pipelines.study --preset smoke --held-out 12 --full-images 12 --accelerator "
                              f"1000 --machine-ram {16 * GB}B --sizes 6,9 --rounds 1 --no-levels "
                              f"--out {measuring.folder}")
    assert recheck.points == measuring.folder / "study.json" and recheck.folder.name == "1.0MB"
    assert commands[3].args[-4:] == ("--machine-ram", "1000000B", "--out", str(commands[3].folder))
    assert "--no-model" in commands[3].args and commands[4].folder.parts[-4] == "run-2"
    for command in commands:
        if command.points:  # the study refuses --points that are not there: its measuring study's, made here
            command.points.parent.mkdir(parents=True, exist_ok=True)
            command.points.touch()
        studied = settings_from_args(build_parser().parse_args(list(command.args)), "smoke")
        assert studied.held_out == studied.full_size == 12 and studied.ram_budget in (16 * GB, 10**6)
    defaults = grid_args(tmp_path)
    assert defaults == grid.GridSettings() and defaults.budgets[0] == StudySettings.ram_budget
    for option, text, said in (("--shapes", "smoke", "PRESET:IMAGES"), ("--models", "tpu", "accelerator=RATE"),
                               ("--budgets", "16QB", "not a size: '16QB'")):
        with pytest.raises(SystemExit) as exited:  # refused as it is read, in one line
            grid_args(tmp_path, option, text)
        refusal = capsys.readouterr().err
        assert exited.value.code == 2 and f"argument {option}: " in refusal and said in refusal


def grid_check(recommended, recommended_s, fastest, fastest_s, verdict, spread=0.01, images=3000):
    return asdict(Check(images, recommended, recommended_s, spread, fastest, fastest_s, spread, verdict,
                        {recommended: recommended_s, fastest: fastest_s}))


def write_grid_study(folder, settings, check=None, errors=None, rate=None):
    """A study.json as the study writes it, with the fields the grid reads."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "study.json").write_text(json.dumps({
        "settings": {k: v for k, v in asdict(settings).items() if k != "contract"}, "points": [], "stages": [],
        "model_alone": {"model": "mobilenet_1", "images_per_sec": rate} if rate else None,
        "held_out_errors": errors or {}, "check": check}, default=str))


def scenario(out, run, preset, images, budget, model_folder, **settings):
    return (out / f"run-{run}" / f"{preset}-{images}" / model_folder / grid.budget_folder(budget),
            StudySettings(preset=preset, held_out=images, full_images=images, ram_budget=budget, **settings))


def test_the_grid_table_is_read_from_the_checks_the_studies_wrote(tmp_path, capsys):
    dogs = [scenario(tmp_path, 1, "dogs-vs-cats", 3000, b, "accelerator-1000", accelerator=1000.0)
            for b in (16 * GB, GB)]
    write_grid_study(*dogs[1], grid_check("tfdata-memory-uint8", 3.25, "tfdata-memory-uint8", 3.25, "match"))
    write_grid_study(*dogs[0], grid_check("tfdata-memory-float32", 3.234, "tfdata-memory-uint8", 3.2, "within noise"))
    write_grid_study(*scenario(tmp_path, 1, "coco2017", 2000, GB // 2, "mobilenet"),
                     grid_check("tfdata-file-uint8", 11.73, "tfdata-memory-uint8", 10.2, "miss"), rate=183.6)
    write_grid_study(*scenario(tmp_path, 1, "coco2017", 2000, GB, "no-model", model=False))
    assert grid.main([str(tmp_path), "--judge"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[:2] == ["| shape | budget | model | recommended | fastest measured | check |",
                         "|---|---|---|---|---|---|"]
    assert lines[2:6] == [
        "| dogs-vs-cats, 3,000 | 16.0 GB | accelerator 1,000 img/s (measured) | tfdata-memory-float32 3.23 s ±1% "
        "| tfdata-memory-uint8 3.20 s ±1% | within noise |",
        "| dogs-vs-cats, 3,000 | 1.0 GB | accelerator 1,000 img/s (measured) | tfdata-memory-uint8 3.25 s ±1% "
        "| the same | match |",
        "| coco2017, 2,000 | 500.0 MB | MobileNet 184 img/s (composed) | tfdata-file-uint8 11.73 s ±1% "
        "| tfdata-memory-uint8 10.20 s ±1% | miss |",
        "| coco2017, 2,000 | 1.0 GB | no model (loader epochs) | - | - | no check |"]
    assert lines[7] == ("2 of 3 checked scenarios pass (1 match, 1 within noise, 1 miss); 1 without a check "
                        "(no held-out size, or a fitting row not measured there)")
    assert not any("held-out error over" in line for line in lines)  # one run: no ranges


def test_the_grid_states_each_laws_held_out_error_range_over_its_runs(tmp_path, capsys):
    check = grid_check("tfdata-none-uint8", 2.0, "tfdata-none-uint8", 2.0, "match")
    for run, errors in ((1, {"idg-none-float32-cold": -0.03, "idg-none-float32-warm": 0.02,
                             "tfdata-file-uint8-cold": 0.12, "tfdata-file-uint8-warm": 0.5}),
                        (2, {"idg-none-float32-cold": 0.05, "idg-none-float32-warm": 0.02,
                             "tfdata-file-uint8-cold": 0.01, "tfdata-file-uint8-warm": -0.2})):
        for budget in (16 * GB, GB):  # a re-check repeats its measuring study's errors: counted once
            write_grid_study(*scenario(tmp_path, run, "smoke", 12, budget, "none", model=False), check, errors)
    assert grid.main([str(tmp_path), "--judge"]) == 0
    printed = capsys.readouterr().out
    assert printed.count("| smoke, 12 |") == 4 and printed.splitlines()[0].startswith("| run | shape |")
    assert "held-out error over 2 runs (predicted/measured - 1): smoke, 12, no model (loader epochs)" in printed
    assert "  idg-none-float32   first -3% to +5%, later +2%" in printed
    assert "  tfdata-file-uint8  first +1% to +12%, later -20% to +50%" in printed
    assert ("first epochs -3% to +12% (3 of 4 within 10%); later epochs -20% to +50% (2 of 4 within 10%)"
            in printed)


def test_the_grid_runs_each_study_once_and_skips_the_rechecks_of_a_failed_measurement(tmp_path, capsys):
    """a kept study.json is not measured again (a grid resumes); a failed measuring study's budgets are not run"""
    from pipelines.study.__main__ import build_parser, settings_from_args

    ran = []

    def study(command):  # the study's own parsing, then a study.json with a check: no measurement
        args = build_parser().parse_args(list(command.args))
        settings = settings_from_args(args, json.loads(args.points.read_text())["settings"]["preset"]
                                      if args.points else None)
        ran.append(command)
        if settings.accelerator:
            return 1
        write_grid_study(args.out, settings, grid_check("tfdata-none-uint8", 1.0, "tfdata-none-uint8", 1.0, "match"))
        return 0

    settings = grid_args(tmp_path, "--shapes", "smoke:12", "--budgets", "16GB,1MB", "--models", "none,accelerator=500")
    failed = grid.run_grid(settings, tmp_path, runner=study)
    assert len(ran) == 3 and [c.folder.parts[-2:] for c in failed] == [("accelerator-500", "16.0GB"),
                                                                       ("accelerator-500", "1.0MB")]
    assert grid.run_grid(settings, tmp_path, runner=study) == failed and len(ran) == 4  # only the failed one again
    assert "grid: kept" in capsys.readouterr().err
    assert grid.report(tmp_path).count("| smoke, 12 |") == 2


def test_judging_an_empty_grid_says_so(tmp_path, capsys):
    assert grid.main([str(tmp_path), "--judge"]) == 2
    assert "no study.json under run-R folders" in capsys.readouterr().err


@pytest.mark.slow
def test_the_grid_command_measures_and_rechecks_a_tiny_scenario(tmp_path, capsys):
    """one real measuring study (loader epochs, no levels) in a child process and one re-check from its points"""
    out = tmp_path / "grid"
    assert grid.main([str(out), "--shapes", "smoke:12", "--budgets", "16GB,1MB", "--models", "none", "--sizes",
                      "6,9", "--rounds", "1", "--min-round-s", "0", "--no-levels", "--data-root", str(tmp_path / "data"), "--cache-dir",
                      str(tmp_path / "caches")]) == 0
    printed = capsys.readouterr().out
    assert printed.count("| smoke, 12 |") == 2 and "checked scenarios pass" in printed
    assert sorted(p.parent.name for p in out.rglob("study.json")) == ["1.0MB", "16.0GB"]
    assert "Recommended:" in (out / "run-1" / "smoke-12" / "none" / "1.0MB" / "study.txt").read_text()


def test_a_row_this_machine_cannot_hold_is_not_measured_and_not_predicted(monkeypatch, tiny_dataset):
    """A memory cache predicted not to fit the RAM available now is left unmeasured with the reason (a 70 GB cache
    would take a 24 GB machine down, not measure it); a row measured at fewer than two sizes gets no law, and so
    no row in the table, instead of a line through one point."""
    import pipelines.study.measuring as measuring
    from pipelines.study.table import laws

    monkeypatch.setattr(measuring, "available_ram", lambda: 10**6)  # 1 MB: no memory cache fits
    holdable = measuring._Holdable(StudySettings(preset="smoke", sizes=(6, 9)), None)
    memory, none = Case("tfdata", "memory", "float32"), Case("tfdata", "none", "uint8")
    assert "exceeds RAM" in holdable(memory, tiny_dataset) and holdable(none, tiny_dataset) is None
    assert holdable(memory, tiny_dataset) == holdable.unmeasured[0].reason and len(holdable.unmeasured) == 1
    assert holdable.unmeasured[0].line().startswith(f"{memory.id} at 11 images not measured: exceeds RAM")

    points = [Point(c.id, e, n, (0.01 * n,), 0, 0) for c in STUDY_CASES for e in ("cold", "warm")
              for n in ((250,) if c == memory else (250, 500))]
    fitted = laws(points)
    assert (memory.id, "cold") not in fitted and (none.id, "cold") in fitted
    rows = study_rows(STUDY_CASES, fitted, COCO, COCO_JPEG_BYTES, Contract(), 16 * GB, 10**13)
    assert memory not in [r.case for r in rows] and len(rows) == len(STUDY_CASES) - 1


def test_a_row_whose_loader_is_not_installed_is_named_not_measured(monkeypatch, tiny_dataset):
    """Grain's row where the grain extra is absent: not measured (nor failed), with the install hint, at each
    size; the levels' children, which ask measure_sizes with its default, skip it too"""
    import pipelines.study.measuring as measuring
    from pipelines.study.scaling import measure_sizes
    from tests.helpers import requiring

    requiring(monkeypatch, "grain", "nosuchpackage_loaderbench_grain")  # the installed Grain cannot be hidden
    holdable = measuring._Holdable(StudySettings(preset="smoke", sizes=(6, 9)), None)
    grain = Case("grain", "none", "uint8")
    assert grain in STUDY_CASES
    assert "pip install '.[grain]'" in holdable(grain, tiny_dataset)
    assert holdable.unmeasured[0].line().startswith("grain-none-uint8 at 11 images not measured: Grain needs")
    assert measure_sizes([tiny_dataset], SMALL_CONTRACT, RoundPlan(1), cases=(grain,)) == []


def test_held_out_rows_narrow_the_held_out_size_only():
    """``--held-out-rows``: a full-size check in parts; every row is still measured at the fitted sizes"""
    settings = StudySettings(sizes=(250, 500), held_out=117266, held_out_rows=("tfdata-none-uint8",))
    assert [case.id for case in STUDY_CASES if settings.measures_row(case.id, 117266)] == ["tfdata-none-uint8"]
    assert all(settings.measures_row(case.id, 250) for case in STUDY_CASES)
    with pytest.raises(ValueError, match="case ids among"):
        StudySettings(sizes=(250, 500), held_out=1000, held_out_rows=("tfdata-nope",))
    with pytest.raises(ValueError, match="add --held-out N"):
        StudySettings(sizes=(250, 500), held_out_rows=("tfdata-none-uint8",))


def test_the_miniature_measures_the_rows_of_the_study_it_reproduces_at_its_size():
    """Grain's row is measured at the fitted sizes only: the study being reproduced had none"""
    from pipelines.study.miniature import MiniatureSettings, study_settings

    settings = study_settings(MiniatureSettings())
    assert not settings.measures_row("grain-none-uint8", 12_000) and settings.measures_row("grain-none-uint8", 250)
    assert all(settings.measures_row(c.id, 12_000) for c in STUDY_CASES if c.loader != "grain")


def test_the_levels_children_time_rounds_as_the_all_cores_point_of_their_size(monkeypatch):
    """a level is read against the all-cores point of its size, so it is timed in rounds of the same length"""
    from pipelines.study import levels

    plans = []
    monkeypatch.setattr(levels, "_child", lambda *a, **k: plans.append(a[5]) or levels.Levels((), ()))
    monkeypatch.setattr(levels, "fewer_cores", lambda: [1])
    levels.measure_levels("smoke", 9, 0, None, Contract(), 3, min_round_s=0.5)
    assert plans == [RoundPlan(levels.STAGE_ROUNDS, 0.0), RoundPlan(3, 0.5)]
