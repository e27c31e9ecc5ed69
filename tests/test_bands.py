"""The held-out error taken at each round alone and at each round's own kernel time (:mod:`pipelines.study.bands`):
the measurement's own spread, and a miss taken apart into the kernel's time and the law's."""

from __future__ import annotations

from dataclasses import replace

import pytest

from pipelines.epoch.faults import PageFaults
from pipelines.study.scaling import Point

CASE = "tfdata-none-uint8"
CORES = 2


def _point(images: int, seconds: tuple[float, ...], kernel_s: tuple[float, ...] | None = None) -> Point:
    faults = tuple(PageFaults(0, k, s) for k, s in zip(kernel_s, seconds)) if kernel_s else ()
    return Point(CASE, "cold", images, seconds, 0, images * 150_000, faults=faults)


def _predictor(points):
    from pipelines.study.predictor import Predictor
    from pipelines.study.settings import StudySettings

    settings = StudySettings(sizes=(250, 500, 1000), held_out=12_000, ram_budget=64 * 10**9)
    return Predictor(settings, points, None, 150_000, 10**13)


def _fitted() -> list[Point]:
    """2 ms an image outside the kernel and 0.4 ms of kernel CPU an image on two cores: 2.2 ms an image."""
    return [_point(n, (0.0022 * n,) * 3, (0.0004 * n,) * 3) for n in (250, 500, 1000)]


def test_a_miss_that_is_the_kernels_time_is_within_the_law_at_each_rounds_own_kernel_time():
    """the held-out rounds spent 12.0 and 7.2 s of kernel CPU (6.0 and 3.6 s of the two cores): at its fitted
    share (0.2 ms an image) the law predicts 26.4 s, -8% of the median; outside the kernel it predicts 24 s, and
    with each round's own kernel time exactly the round"""
    from pipelines.study.bands import errors_of, kernel_bands, round_bands

    predictor = _predictor(_fitted() + [_point(12_000, (30.0, 27.6), (12.0, 7.2))])
    errors = errors_of(predictor)
    assert errors[(CASE, "cold")] == pytest.approx(26.4 / 28.8 - 1)
    assert kernel_bands(predictor, errors, CORES) == {(CASE, "cold"): pytest.approx((0.0, 0.0), abs=1e-9)}
    assert round_bands(predictor, errors) == {(CASE, "cold"): pytest.approx((26.4 / 30 - 1, 26.4 / 27.6 - 1))}


def test_a_miss_that_is_the_laws_stays_at_each_rounds_own_kernel_time():
    """the same kernel time as the fitted sizes' share, an epoch 20% slower outside the kernel: the band says
    the law's -17%, not the kernel's"""
    from pipelines.study.bands import errors_of, kernel_bands

    predictor = _predictor(_fitted() + [_point(12_000, (31.2,), (4.8,))])  # 28.8 outside + 2.4
    errors = errors_of(predictor)
    assert kernel_bands(predictor, errors, CORES)[(CASE, "cold")] == pytest.approx((26.4 / 31.2 - 1,) * 2)


def test_no_band_where_its_measurement_is_missing():
    """no kernel band without the fitted sizes' or the held-out rounds' kernel time (a study.json that predates
    them); no round band from one round"""
    from pipelines.study.bands import errors_of, kernel_bands, round_bands

    uncounted = [replace(p, faults=()) for p in _fitted()]
    for points in (uncounted + [_point(12_000, (30.0, 27.6), (12.0, 7.2))],
                   _fitted() + [_point(12_000, (30.0, 27.6))]):
        predictor = _predictor(points)
        assert kernel_bands(predictor, errors_of(predictor), CORES) == {}
    predictor = _predictor(_fitted() + [_point(12_000, (30.0,), (12.0,))])
    assert round_bands(predictor, errors_of(predictor)) == {}


def test_a_band_reads_as_its_two_ends_or_one_where_they_round_alike():
    from pipelines.study.storage_lines import band_text

    assert band_text((-0.112, -0.049)) == "-11% to -5%"
    assert band_text((0.021, 0.024)) == "+2%"
    assert band_text((-0.001, 0.002)) == "+0%"  # never "-0%"


def test_a_held_out_epoch_shows_the_share_of_the_cores_it_held_beside_the_largest_fitted_sizes():
    from types import SimpleNamespace

    from pipelines.study.storage_lines import busy_line

    fitted = [replace(p, faults=tuple(replace(f, user_s=0.0038 * p.images) for f in p.faults)) for p in _fitted()]
    held = _point(12_000, (30.0, 27.6), (12.0, 7.2))
    held = replace(held, faults=(replace(held.faults[0], user_s=42.0), replace(held.faults[1], user_s=40.0)))
    result = SimpleNamespace(measured=SimpleNamespace(points=fitted + [held], cores=CORES))
    assert busy_line(result, held) == "; cores busy 90%, 86% (95% at 1,000 images)"  # (42 + 12) / 60, ...
    assert busy_line(result, _point(12_000, (30.0,), (12.0,))) == ""  # its time outside the kernel not counted
