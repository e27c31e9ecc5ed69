"""Epochs bounded by what they move (:mod:`pipelines.study.bound`) and the rates behind them
(:mod:`pipelines.caches.bandwidth`): each epoch's storage traffic, its interval from the probes' spread, the
page cache's misses in a shuffled epoch, and the probes themselves."""

from __future__ import annotations

import random
from collections import OrderedDict
from dataclasses import replace
from pathlib import Path

import pytest
from hypothesis import given, settings, strategies as st

from pipelines.caches.bandwidth import Bandwidth, measure_bandwidth, measure_file_reads
from pipelines.harness.cases import Case
from pipelines.study.bound import (NOTHING, jpeg_seconds, page_cache_room, reread_share, rereads_storage,
                                   sizes_to_measure, stall, traffic)

GB = 10**9
FILE_UINT8 = Case("tfdata", "file", "uint8")
NO_CACHE = Case("tfdata", "none", "uint8")
MEMORY = Case("tfdata", "memory", "uint8")
SEQUENTIAL = Bandwidth(18 * GB, 1 * GB, 2 * GB, 0, "/tmp")
JPEGS = Bandwidth(80 * 10**6, 0.0, 0.1 * GB, 0, "/data", kind="jpegs", files=512, when="before the epochs")


def test_what_each_epoch_moves_through_storage():
    """a first epoch reads the JPEGs, and waits on writing a file cache past the dirty pages write-back holds; a
    later one reads a file cache back, or nothing while the JPEGs stay in the page cache; a memory cache moves
    nothing after its first epoch"""
    room = page_cache_room(64 * GB)
    assert traffic(NO_CACHE, "cold", 18 * GB, 0, room, [SEQUENTIAL, JPEGS]).seconds == pytest.approx(180.0)
    assert traffic(NO_CACHE, "cold", 18 * GB, 0, room, [SEQUENTIAL]).seconds == pytest.approx(9.0)  # no probe
    assert traffic(FILE_UINT8, "warm", 18 * GB, 17 * GB, room, [SEQUENTIAL, JPEGS]).seconds == pytest.approx(8.5)
    assert traffic(FILE_UINT8, "cold", 18 * GB, 17 * GB, room, [SEQUENTIAL, JPEGS]).seconds == pytest.approx(180.0)
    assert stall(FILE_UINT8, "cold", 17 * GB, [SEQUENTIAL]).seconds == pytest.approx(17.0)  # 1 GB/s, none held
    assert stall(FILE_UINT8, "cold", 17 * GB, [replace(SEQUENTIAL, dirty_bytes=5 * GB)]).seconds == pytest.approx(12.0)
    assert stall(FILE_UINT8, "warm", 17 * GB, [SEQUENTIAL]) == stall(NO_CACHE, "cold", 0, [SEQUENTIAL]) == NOTHING
    assert traffic(NO_CACHE, "warm", 18 * GB, 0, room, [SEQUENTIAL, JPEGS]).seconds == 0.0
    assert traffic(MEMORY, "warm", 18 * GB, 17 * GB, room, [SEQUENTIAL, JPEGS]).seconds == 0.0
    assert traffic(NO_CACHE, "cold", 18 * GB, 0, room, []).seconds == 0.0  # nothing measured: no bound


def test_the_jpegs_probed_twice_give_the_traffic_its_interval_and_move_the_file_rates_as_much():
    """read before and after the epochs at 0.1 and 0.05 GB/s: the mean of the two times (180 and 360 s), the
    interval between them; a file cache read back is one large file, its rate moved by the same ±33%"""
    slower = replace(JPEGS, read_bps=0.05 * GB, when="after the epochs")
    estimate = jpeg_seconds(18 * GB, [JPEGS, slower])
    assert (estimate.seconds, estimate.low, estimate.high) == pytest.approx((270.0, 180.0, 360.0))
    back = traffic(FILE_UINT8, "warm", 18 * GB, 17 * GB, page_cache_room(64 * GB), [SEQUENTIAL, JPEGS, slower])
    assert back.seconds == pytest.approx(8.5) and back.half_width == pytest.approx(1 / 3)
    assert slower.line().endswith("after the epochs")


def test_a_later_uncached_epoch_reads_the_share_of_the_jpegs_the_page_cache_misses():
    """16 GB of RAM, 1 GB of it the process's, for 18 GB of JPEGs: the least-recently-used misses of 14.7 GB of
    page cache, at the JPEGs' rate; where they fit, nothing"""
    room = page_cache_room(16 * GB, 1 * GB)
    assert room == 16 * GB - 1 * GB - 256 * 10**6
    assert traffic(NO_CACHE, "warm", 18 * GB, 0, room, [JPEGS]).seconds == pytest.approx(
        reread_share(room, 18 * GB) * 180.0)
    assert traffic(NO_CACHE, "warm", 10 * GB, 0, room, [JPEGS]).seconds == 0.0
    assert rereads_storage(NO_CACHE, 18 * GB, room) and not rereads_storage(FILE_UINT8, 18 * GB, room)
    assert not rereads_storage(NO_CACHE, 15.5 * GB, page_cache_room(16 * GB))  # 15.7 GB of page cache
    assert rereads_storage(NO_CACHE, 15.5 * GB, room)  # less the process's 1 GB


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


def test_sizes_within_a_quarter_are_measured_once_and_none_past_the_free_disk() -> None:
    assert sizes_to_measure([1.8 * GB, 1.9 * GB, 17.7 * GB, 70.6 * GB], 68 * GB) == [int(1.8 * GB), int(17.7 * GB)]


def test_a_rate_is_measured_on_a_file_of_the_size_asked_and_the_file_removed(tmp_path: Path) -> None:
    rate = measure_bandwidth(tmp_path, 20 * 10**6)
    assert rate.file_bytes >= 20 * 10**6 and rate.read_bps > 0 and rate.write_bps > 0
    assert rate.folder == str(tmp_path) and not list(tmp_path.iterdir())
    assert "write" in rate.line() and "read" in rate.line()


def test_the_datasets_own_files_are_a_random_draw_read_after_eviction(tiny_dataset) -> None:
    rate = measure_file_reads(tiny_dataset.paths, readers=2, sample=5, rng=random.Random(7))
    drawn = random.Random(7).sample(list(tiny_dataset.paths), 5)
    assert rate.kind == "jpegs" and rate.files == 5 and rate.read_bps > 0
    assert rate.file_bytes == sum(p.stat().st_size for p in drawn) and "of the dataset's files" in rate.line()
    every = measure_file_reads(tiny_dataset.paths, readers=2, sample=10**6)
    assert every.files == len(tiny_dataset.paths)
