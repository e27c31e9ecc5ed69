"""The study: laws fitted to measured sizes, the full-size table's rules, the recommendation, the command."""

from __future__ import annotations

import json

import numpy as np
import pytest

from pipelines.cases import Case
from pipelines.config import Contract, StudySettings
from pipelines.study.__main__ import main
from pipelines.study.extrapolate import Law, fit_law, held_out_error
from pipelines.study.recommend import recommend
from pipelines.study.scaling import STUDY_CASES
from pipelines.study.table import combined_s, study_rows, table_lines

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
        "tfdata-memory-float32": 600, "tfdata-file-uint8": 550, "tfdata-file-float32": 400}
WARM = {"idg-none-float32": 350, "tfdata-none-uint8": 900, "tfdata-memory-uint8": 9000,
        "tfdata-memory-float32": 12000, "tfdata-file-uint8": 3000, "tfdata-file-float32": 1500}


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


def test_recommendation_of_tied_caches_prefers_disk_to_ram():
    """at 2500 img/s the model sets the epoch for both uint8 caches (and the JPEGs are too slow): the disk one"""
    advice = recommend(rows_for(64 * GB), COCO, model_images_per_sec=2500, ram_budget=64 * GB)
    assert advice.row.case.id == "tfdata-file-uint8" and "model is the bottleneck" in advice.reason


def test_recommendation_compute_bound_takes_no_cache_and_names_the_model():
    """an accelerator at 500 img/s sets every epoch: a cache buys nothing measurable, so none is recommended"""
    advice = recommend(rows_for(64 * GB), COCO, model_images_per_sec=500, ram_budget=64 * GB)
    assert advice.row.case.id == "tfdata-none-uint8"
    assert advice.epoch_s == pytest.approx(COCO / 500)
    assert "model is the bottleneck" in advice.reason


def test_on_a_cpu_the_loaders_work_adds_to_the_models():
    """the same model on the loader's cores: every second of loading adds, so the cheapest later epoch wins"""
    assert combined_s(2.0, 10.0, shares_cpu=True) == 12.0 and combined_s(2.0, 10.0, shares_cpu=False) == 10.0
    assert combined_s(None, 10.0, shares_cpu=True) is None and combined_s(2.0, None, shares_cpu=True) == 2.0
    advice = recommend(rows_for(64 * GB), COCO, model_images_per_sec=500, ram_budget=64 * GB, cpu_only=True)
    assert advice.row.case.id == "tfdata-memory-uint8"
    assert advice.epoch_s == pytest.approx(COCO / 500 + 1.0 + COCO / 9000)
    assert "loader's work adds" in advice.reason


def test_settings_refuse_a_held_out_size_that_is_fitted_and_a_single_size():
    with pytest.raises(ValueError, match="held-out"):
        StudySettings(sizes=(250, 500), held_out=500)
    with pytest.raises(ValueError, match="two distinct sizes"):
        StudySettings(sizes=(500, 500))


@pytest.mark.slow
def test_the_study_command_end_to_end_on_a_tiny_dataset(tmp_path, capsys):
    """generate, measure every row at two sizes and a held-out one, predict, recommend, write the three files"""
    out = tmp_path / "out"
    code = main(["--preset", "smoke", "--sizes", "6,9", "--held-out", "12", "--full-images", "300", "--no-model",
                 "--rounds", "1", "--data-root", str(tmp_path / "data"), "--cache-dir", str(tmp_path / "caches"),
                 "--out", str(out)])
    printed = capsys.readouterr().out
    assert code == 0, printed
    assert "ImageDataGenerator" in printed and "Recommended:" in printed and "held out" in printed
    assert (out / "study.md").read_text().count("|") > 20 and (out / "study.png").stat().st_size > 0
    saved = json.loads((out / "study.json").read_text())
    assert {(p["images"], p["case"], p["epoch"]) for p in saved["points"]} == {
        (n, c.id, e) for n in (6, 9, 12) for c in STUDY_CASES for e in ("cold", "warm")}
    assert len(saved["held_out_errors"]) == 2 * len(STUDY_CASES)
    assert list((tmp_path / "caches").iterdir()) == []

    again = tmp_path / "again"  # predicted again from the saved points, for a tiny RAM budget: nothing measured
    assert main(["--points", str(out / "study.json"), "--held-out", "12", "--full-images", "300", "--no-model",
                 "--ram-budget", "1MB", "--out", str(again)]) == 0
    printed = capsys.readouterr().out
    assert "smoke at full size: 300 images" in printed and "does not fit" in printed
    assert main(["--points", str(out / "study.json"), "--preset", "coco2017", "--out", str(again)]) == 2
    assert "measured on smoke" in capsys.readouterr().err


def test_the_study_command_rejects_bad_settings_with_a_message(capsys):
    assert main(["--sizes", "500"]) == 2
    assert "two distinct sizes" in capsys.readouterr().err
    assert main(["--sizes", "a,b"]) == 2
    assert "comma-separated" in capsys.readouterr().err


def test_case_ids_of_the_study_rows_are_benchmark_cases():
    from pipelines.cases import THROUGHPUT_CASES

    assert set(STUDY_CASES) <= set(THROUGHPUT_CASES)
    assert Case("idg", "none", "float32") in STUDY_CASES
