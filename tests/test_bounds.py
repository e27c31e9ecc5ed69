"""Epochs bounded by storage (:mod:`pipelines.study.bounds`) and the rates behind them
(:mod:`pipelines.caches.bandwidth`): the bounded law recovers what made synthetic epochs, and a table row moving
bytes is predicted by its bytes where they are the slower."""

from __future__ import annotations

import random
from collections import OrderedDict
from dataclasses import replace
from pathlib import Path

import pytest
from hypothesis import given, settings, strategies as st

from pipelines.caches.bandwidth import Bandwidth, measure_bandwidth, measure_file_reads
from pipelines.harness.cases import Case
from pipelines.loaders.contract import Contract
from pipelines.memory.predict import predict_cache
from pipelines.study.bounds import bounded, io_seconds, nearest, read_bytes, reread_share, sizes_to_measure
from pipelines.study.extrapolate import fit_law, held_out_error
from pipelines.study.scaling import Point
from pipelines.study.table import (epoch_traffic, held_out_errors, later_epochs_read_storage, page_cache_room,
                                   study_rows)

GB = 10**9
FILE_UINT8 = Case("tfdata", "file", "uint8")
NO_CACHE = Case("tfdata", "none", "uint8")
MEMORY = Case("tfdata", "memory", "uint8")


def _rate(read_gbps: float, write_gbps: float = 1.0, size: float = 10 * GB, dirty: float = 0.0) -> Bandwidth:
    return Bandwidth(int(size), write_gbps * GB, read_gbps * GB, int(dirty), "/tmp")


@pytest.mark.parametrize("fixed, per_image, read_gbps", [(0.3, 1e-3, 0.5), (0.5, 2e-4, 0.5), (2.0, 1e-4, 0.2)])
def test_the_bounded_law_recovers_a_cpu_line_and_a_read_rate_from_synthetic_epochs(fixed, per_image, read_gbps):
    """Epochs made as max(fixed + per image x n, cache bytes / rate): fitted on sizes where the CPU is the
    slower, the law recovers both parameters, and bounded by the rate predicts the large sizes exactly where the
    line alone misses."""
    per_image_bytes = 150_532
    rate = _rate(read_gbps)
    small = [250, 500, 1000]
    large = [12_000, 117_266]

    def epoch(n: int) -> float:
        return max(fixed + per_image * n, n * per_image_bytes / rate.read_bps)

    assert all(fixed + per_image * n >= n * per_image_bytes / rate.read_bps for n in small)  # CPU-bound there
    law = fit_law([(n, epoch(n)) for n in small])
    assert law.fixed_s == pytest.approx(fixed, abs=1e-9) and law.per_image_s == pytest.approx(per_image)
    missed = False
    for n in large:
        missed |= abs(law.seconds(n) / epoch(n) - 1) > 0.1
        io = io_seconds(FILE_UINT8, "warm", 0, n * per_image_bytes, [rate])
        assert bounded(law.seconds(n), io) == pytest.approx(epoch(n))
        points = [(m, epoch(m)) for m in [*small, n]]
        assert held_out_error(points, n, io) == pytest.approx(0.0, abs=1e-9)
    assert missed == (per_image_bytes / rate.read_bps > per_image)  # the line alone misses where bytes bound it


def test_what_each_epoch_moves_through_storage() -> None:
    rate = _rate(read_gbps=1.0, write_gbps=0.5, dirty=2 * GB)
    jpegs, cache = 18 * GB, 17 * GB
    assert io_seconds(NO_CACHE, "cold", jpegs, 0, [rate]) == pytest.approx(18.0)  # the JPEGs read
    assert io_seconds(NO_CACHE, "warm", jpegs, 0, [rate]) == 0.0  # from the page cache
    assert io_seconds(MEMORY, "warm", jpegs, cache, [rate]) == 0.0
    # first epoch: JPEGs read, the cache written past the 2 GB the page cache's write-back absorbs
    assert io_seconds(FILE_UINT8, "cold", jpegs, cache, [rate]) == pytest.approx(18.0 + 15 / 0.5)
    assert io_seconds(FILE_UINT8, "warm", jpegs, cache, [rate]) == pytest.approx(17.0)  # the cache read back
    assert io_seconds(FILE_UINT8, "warm", jpegs, cache, []) == 0.0  # no rate measured: the CPU law alone


def test_the_rate_of_the_file_nearest_in_size_is_used() -> None:
    small, large = _rate(2.0, size=0.2 * GB), _rate(0.5, size=20 * GB)
    assert nearest([small, large], 17 * GB) is large and nearest([small, large], 0.3 * GB) is small
    assert nearest([], GB) is None and nearest([small], 0) is None


def test_sizes_within_a_quarter_are_measured_once_and_none_past_the_free_disk() -> None:
    chosen = sizes_to_measure([18.5 * GB, 17.7 * GB, 70.6 * GB, 1.8 * GB], free_bytes=40 * GB)
    assert chosen == pytest.approx([1.8 * GB, 17.7 * GB], abs=1)


def test_a_file_cache_row_read_back_slower_than_its_cpu_law_is_predicted_by_its_bytes() -> None:
    contract = Contract()
    law = fit_law([(250, 0.05), (500, 0.1), (1000, 0.2)])  # 5,000 images/s: the CPU law alone
    fitted = {(FILE_UINT8.id, "cold"): law, (FILE_UINT8.id, "warm"): law}
    images = 117_266
    cache = predict_cache(images, FILE_UINT8.contract(contract)).total_bytes
    rate = _rate(read_gbps=0.3, size=cache)
    (row,) = study_rows([FILE_UINT8], fitted, images, int(18 * GB), contract, 16 * GB, 10**13, [rate])
    assert row.later_s == pytest.approx(cache / rate.read_bps) and row.later_s > law.seconds(images)
    (unbounded,) = study_rows([FILE_UINT8], fitted, images, int(18 * GB), contract, 16 * GB, 10**13)
    assert unbounded.later_s == pytest.approx(law.seconds(images))


def test_a_rate_is_measured_on_a_file_of_the_size_asked_and_the_file_removed(tmp_path: Path) -> None:
    rate = measure_bandwidth(tmp_path, 20 * 10**6)
    assert rate.file_bytes >= 20 * 10**6 and rate.read_bps > 0 and rate.write_bps > 0
    assert rate.folder == str(tmp_path) and not list(tmp_path.iterdir())
    assert "write" in rate.line() and "read" in rate.line()


def test_a_first_epoch_reads_the_jpegs_at_the_rate_of_the_datasets_own_files() -> None:
    sequential = _rate(2.0, size=18 * GB)
    small_files = Bandwidth(80 * 10**6, 0.0, 0.1 * GB, 0, "/data", kind="jpegs", files=512)
    assert io_seconds(NO_CACHE, "cold", 18 * GB, 0, [sequential]) == pytest.approx(9.0)
    assert io_seconds(NO_CACHE, "cold", 18 * GB, 0, [sequential, small_files]) == pytest.approx(180.0)
    # a file cache read back is one large file: the sequential rate, whatever the JPEGs' was
    assert io_seconds(FILE_UINT8, "warm", 18 * GB, 17 * GB, [sequential, small_files]) == pytest.approx(8.5)
    # read before and after the epochs at 0.1 and 0.05 GB/s: the mean of the two times, 180 s and 360 s
    slower = replace(small_files, read_bps=0.05 * GB, when="after the epochs")
    assert io_seconds(NO_CACHE, "cold", 18 * GB, 0, [sequential, small_files, slower]) == pytest.approx(270.0)
    assert slower.line().endswith("after the epochs")


def test_the_datasets_own_files_are_a_random_draw_read_after_eviction(tiny_dataset) -> None:
    rate = measure_file_reads(tiny_dataset.paths, readers=2, sample=5, rng=random.Random(7))
    drawn = random.Random(7).sample(list(tiny_dataset.paths), 5)
    assert rate.kind == "jpegs" and rate.files == 5 and rate.read_bps > 0
    assert rate.file_bytes == sum(p.stat().st_size for p in drawn)
    assert "of the dataset's files" in rate.line()


def test_a_sample_larger_than_the_dataset_reads_every_file_once(tiny_dataset) -> None:
    rate = measure_file_reads(tiny_dataset.paths, readers=2, sample=10**6)
    assert rate.files == len(tiny_dataset.paths)
    assert rate.file_bytes == sum(p.stat().st_size for p in tiny_dataset.paths)


def test_a_later_epoch_that_reads_storage_is_checked_against_the_cold_law_and_its_traffic() -> None:
    """At a held-out size whose JPEGs exceed the budget, the table predicts later epochs uncached by the cold
    law and the JPEGs' reads; the held-out error of the measured later epoch uses that prediction too."""
    def point(kind: str, images: int, seconds: float) -> Point:
        return Point(NO_CACHE.id, kind, images, (seconds,), 0, images * 150_000)

    cold = [point("cold", n, 1 + 0.002 * n) for n in (250, 500, 1000)]
    warm = [point("warm", n, 0.001 * n) for n in (250, 500, 1000)]
    points = cold + warm + [point("cold", 100_000, 300.0), point("warm", 100_000, 240.0)]
    traffic = {"cold": 200.0, "warm": 250.0}  # a later epoch's reads: the JPEGs the page cache no longer holds
    errors = held_out_errors(points, 100_000, io=lambda case, kind: traffic[kind], later_kind=lambda case: "cold")
    assert errors[(NO_CACHE.id, "cold")] == pytest.approx(201 / 300 - 1)  # max(cold law 201 s, reads 200 s)
    assert errors[(NO_CACHE.id, "warm")] == pytest.approx(250 / 240 - 1)  # max(cold law 201 s, its reads 250 s)
    where_cached = held_out_errors(points, 100_000, io=lambda case, kind: 0.0)
    assert where_cached[(NO_CACHE.id, "warm")] == pytest.approx(100 / 240 - 1)  # the warm law alone
    assert later_epochs_read_storage(NO_CACHE, 18 * GB, 16 * GB)
    assert not later_epochs_read_storage(NO_CACHE, 1 * GB, 16 * GB)
    assert not later_epochs_read_storage(FILE_UINT8, 18 * GB, 16 * GB)


def _lru_misses(cached: float, files: int = 4000, epochs: int = 3, seed: int = 0) -> float:
    """The share of files the last of ``epochs`` shuffled passes misses in a least-recently-used cache holding
    ``cached`` of them: the page cache's model, simulated file by file."""
    rng, capacity, cache = random.Random(seed), int(cached * files), OrderedDict()
    misses = 0
    for _ in range(epochs):
        order, misses = list(range(files)), 0
        rng.shuffle(order)
        for f in order:
            if f in cache:
                cache.move_to_end(f)
                continue
            misses += 1
            cache[f] = True
            if len(cache) > capacity:
                cache.popitem(last=False)
    return misses / files


@settings(max_examples=15, deadline=None)
@given(st.floats(min_value=0.0, max_value=0.98))
def test_the_reread_share_is_what_a_least_recently_used_cache_misses_in_a_shuffled_epoch(cached: float) -> None:
    assert reread_share(cached * 18 * GB, 18 * GB) == pytest.approx(_lru_misses(cached), abs=0.03)


def test_the_reread_share_at_its_ends() -> None:
    assert reread_share(0, 18 * GB) == 1.0  # nothing cached: every file is read again
    assert reread_share(18 * GB, 18 * GB) == 0.0 == reread_share(20 * GB, 18 * GB)  # all stay cached
    assert reread_share(0.76 * 18 * GB, 18 * GB) == pytest.approx(0.5825, abs=1e-3)  # far above 1 - 0.76
    assert reread_share(5 * GB, 0) == 0.0


def test_a_later_uncached_epoch_reads_the_share_of_the_jpegs_the_page_cache_misses() -> None:
    """16 GB of RAM, 1 GB of it the process's, for 18 GB of JPEGs: a later epoch reads the least-recently-used
    misses of 14.7 GB of page cache, at the JPEGs' rate; a file cache's later epoch reads its file whatever the
    budget; where the JPEGs fit, a later epoch reads nothing."""
    rate = Bandwidth(160 * 10**6, 0.0, 0.02 * GB, 0, "/data", "jpegs", 1024)
    room = page_cache_room(16 * GB, 1 * GB)
    assert room == 16 * GB - 1 * GB - 256 * 10**6
    share = reread_share(room, 18 * GB)
    seconds, reads, read_bps = epoch_traffic(NO_CACHE, "warm", 18 * GB, 0, 16 * GB, 1 * GB, [rate])
    assert reads == pytest.approx(share * 18 * GB) and seconds == pytest.approx(reads / rate.read_bps)
    assert read_bps == rate.read_bps  # the JPEGs' own rate, as a first epoch reads them
    assert epoch_traffic(NO_CACHE, "cold", 18 * GB, 0, 16 * GB, 1 * GB, [rate])[1] == 18 * GB
    assert epoch_traffic(NO_CACHE, "warm", 10 * GB, 0, 16 * GB, 1 * GB, [rate])[:2] == (0.0, 0.0)
    assert epoch_traffic(FILE_UINT8, "warm", 18 * GB, 17 * GB, 16 * GB, 1 * GB, [rate])[1] == 17 * GB
    assert read_bytes(MEMORY, "warm", 18 * GB, 17 * GB) == 0.0
    assert not later_epochs_read_storage(NO_CACHE, 15.5 * GB, 16 * GB)  # 15.7 GB of page cache hold them
    assert later_epochs_read_storage(NO_CACHE, 15.5 * GB, 16 * GB, 1 * GB)  # less the process's 1 GB do not


def test_a_storage_bound_error_is_shown_over_the_range_of_the_jpeg_read_rates_probed() -> None:
    """The JPEGs read at 0.1 GB/s before the epochs and 0.05 GB/s after: a 15 GB first epoch is predicted at
    the mean of 150 s and 300 s, and its error is given at each rate alone too; an epoch the CPU bounds has no
    band."""
    from pipelines.study.bands import error_bands, errors_of
    from pipelines.study.predictor import Predictor
    from pipelines.study.settings import StudySettings

    def point(kind: str, images: int, seconds: float) -> Point:
        return Point(NO_CACHE.id, kind, images, (seconds,), 0, images * 150_000)

    points = ([point("cold", n, 1 + 0.002 * n) for n in (250, 500, 1000)]
              + [point("warm", n, 0.001 * n) for n in (250, 500, 1000)]
              + [point("cold", 100_000, 300.0), point("warm", 100_000, 110.0)])
    before = Bandwidth(160 * 10**6, 0.0, 0.1 * GB, 0, "/data", "jpegs", 1024, when="before the epochs")
    after = replace(before, read_bps=0.05 * GB, when="after the epochs")
    settings = StudySettings(sizes=(250, 500, 1000), held_out=100_000, ram_budget=64 * GB)
    predictor = Predictor(settings, points, None, 150_000, 10**13, [before, after])
    errors = errors_of(predictor)
    assert errors[(NO_CACHE.id, "cold")] == pytest.approx(225 / 300 - 1)  # 15 GB at the mean time a byte
    assert error_bands(predictor, errors) == {(NO_CACHE.id, "cold"): pytest.approx((201 / 300 - 1, 0.0))}
    assert error_bands(replace(predictor, bandwidths=[before]), errors) == {}  # one probe: no range


def test_a_jpeg_probe_served_from_a_cache_below_the_machine_is_left_out() -> None:
    """Requests of 0.7 ms against another probe's 11.9 ms: the fast probe read files a cache below this machine
    held (a VM host keeps what was read lately), not the volume an epoch of 18 GB reads, so the rate is the other
    probe's alone and no band is drawn from it; probes within 5x of each other are both kept."""
    from pipelines.study.bounds import jpeg_rate, served_from_a_cache

    cached = Bandwidth(160 * 10**6, 0.0, 323.6e6, 0, "/data", "jpegs", 1024, 0.7, "before the epochs")
    volume = replace(cached, read_bps=25.1e6, ms_per_read=11.9, when="after the epochs")
    assert served_from_a_cache([cached, volume]) == [cached]
    assert jpeg_rate([cached, volume], 18 * GB).read_bps == pytest.approx(25.1e6)
    drifted = replace(cached, read_bps=50e6, ms_per_read=3.0)  # a faster minute of the volume: 4x, kept
    assert served_from_a_cache([drifted, volume]) == []
    assert jpeg_rate([drifted, volume], 18 * GB).read_bps == pytest.approx(2 / (1 / 50e6 + 1 / 25.1e6))
    assert served_from_a_cache([replace(cached, ms_per_read=0.0), volume]) == []  # request time unknown: kept
