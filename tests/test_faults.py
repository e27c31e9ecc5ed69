"""What filling RAM costs the kernel (:mod:`pipelines.epoch.faults`, :mod:`pipelines.memory.fill_rate`): an
epoch's page faults counted, the fill probe run in a child and its figures, what a memory cache's first epoch
adds for them, and the record kept by a study's points and shown beside the held-out error."""

from __future__ import annotations

import json
import mmap
import time
from dataclasses import asdict, replace

import pytest

from pipelines.epoch.faults import PAGE_BYTES, FaultMeter, PageFaults
from pipelines.memory.fill_rate import MemoryFill, fill_seconds, measure_memory_fill, sizes_to_fill
from pipelines.study.settings import CASES_BY_ID
from pipelines.study.bounds import fill_s
from pipelines.study.table import held_out_errors
from pipelines.study.scaling import Point
from pipelines.study.storage_lines import faults_line, kernel_worth_showing


def test_touching_new_memory_is_counted_a_page_a_fault():
    size = 64 * 2**20
    meter = FaultMeter()
    meter.start()
    block = mmap.mmap(-1, size)
    for offset in range(0, size, PAGE_BYTES):
        block[offset] = 1
    faults = meter.stop()
    block.close()
    assert faults.fault_bytes >= 0.9 * size  # at least the block's pages (the interpreter adds its own)
    assert faults.kernel_s >= 0 and faults.seconds > 0


def test_memory_already_held_faults_nothing_new():
    size = 64 * 2**20
    block = mmap.mmap(-1, size)
    for offset in range(0, size, PAGE_BYTES):
        block[offset] = 1
    meter = FaultMeter()
    meter.start()
    for offset in range(0, size, PAGE_BYTES):
        block[offset] = 2
    faults = meter.stop()
    block.close()
    assert faults.fault_bytes < 0.1 * size


def test_faults_are_counted_in_pages():
    assert PageFaults(1024, 1.75, 3.0).fault_bytes == 1024 * PAGE_BYTES


def test_an_epochs_time_on_the_cores_is_counted_in_the_kernel_and_out_of_it():
    """a busy loop of a fifth of a second holds one core for it, outside the kernel; sleeping holds none"""
    meter = FaultMeter()
    meter.start()
    deadline, total = time.process_time() + 0.2, 0
    while time.process_time() < deadline:  # the clock read a system call: arithmetic between reads
        total += sum(range(100_000))
    time.sleep(0.2)
    counted = meter.stop()
    assert counted.user_s >= 0.1 and counted.user_s + counted.kernel_s >= 0.18 and counted.seconds >= 0.4
    assert counted.busy(cores=1) < 0.75  # the sleep: waited, not on a core
    assert PageFaults(0, 1.0, 2.0, 3.0).busy(cores=2) == 1.0
    assert PageFaults(0, 1.0, 2.0).busy(cores=2) is None  # a record without the time outside the kernel


def _fill(nbytes: int, fresh_kernel_s: float, again_kernel_s: float = 1.0, cores: int = 2,
          placement: str = "float32", when: str = "", again_pages: float = 0.0) -> MemoryFill:
    pages = nbytes // PAGE_BYTES
    return MemoryFill(nbytes, placement, cores, 9.0, 2.0, PageFaults(pages, fresh_kernel_s, 9.0),
                      PageFaults(int(again_pages * pages), again_kernel_s, 2.0), when)


def test_the_fill_probe_fills_a_cache_twice_in_a_child_and_counts_the_first_fills_pages():
    fill = measure_memory_fill(64 * 10**6, "float32", (64, 64))
    per_image = 64 * 64 * 3 * 4
    assert fill.nbytes == (64 * 10**6 // per_image) * per_image and fill.placement == "float32" and fill.cores >= 1
    assert fill.fresh_s > 0 and fill.again_s > 0 and fill.seconds_a_byte >= 0
    assert fill.fresh_faults.fault_bytes >= 0.5 * fill.nbytes  # its tensors' pages, at least half of them new
    assert MemoryFill(**json.loads(json.dumps(asdict(fill)))) == fill  # as study.json keeps it
    assert "float32 memory cache filled in" in fill.line()


def test_a_failing_probe_says_why():
    with pytest.raises(RuntimeError, match="the memory fill probe failed"):
        measure_memory_fill(10**6, "int7", (8, 8))


def test_a_fresh_byte_costs_the_kernel_time_the_first_fill_took_beyond_the_second_over_the_cores():
    assert _fill(2 * 10**9, fresh_kernel_s=11.0, again_kernel_s=1.0).seconds_a_byte == pytest.approx(2.5e-9)
    assert _fill(2 * 10**9, 11.0, 1.0, cores=1).seconds_a_byte == pytest.approx(5e-9)
    assert _fill(10**9, fresh_kernel_s=1.0, again_kernel_s=1.5).seconds_a_byte == 0.0  # never a negative cost


def test_where_the_second_fill_faults_its_pages_again_the_whole_fills_kernel_time_is_its_pages():
    """a uint8 cache's freed memory goes back to the kernel: its second fill is no baseline"""
    refaulted = _fill(2 * 10**9, fresh_kernel_s=4.0, again_kernel_s=3.6, placement="uint8", again_pages=0.99)
    assert not refaulted.reused and refaulted.seconds_a_byte == pytest.approx(1e-9)
    assert "faulted in afresh" in refaulted.line() and "uint8" in refaulted.line()
    assert _fill(2 * 10**9, 4.0, again_pages=0.05).reused


def test_a_cache_is_charged_at_the_mean_of_the_probes_at_its_size_in_its_own_dtype():
    before, after = (_fill(2 * 10**9, fresh_kernel_s=k, when=w)
                     for k, w in ((5.0, "before the epochs"), (9.0, "after the epochs")))  # 1.0, 2.0 s a GB
    uint8 = _fill(2 * 10**9, fresh_kernel_s=13.0, placement="uint8")  # 3.0 s a GB
    assert "before the epochs" in before.line()
    assert fill_seconds([before, after, uint8], 2e9, "float32") == pytest.approx(3.0)  # 1.5 s a GB
    assert fill_seconds([before, after, uint8], 2e9, "uint8") == pytest.approx(6.0)
    assert fill_seconds([before, after], 2e9, "uint8") == pytest.approx(3.0)  # its dtype not probed: the others'


def test_a_cache_is_charged_at_the_cost_measured_nearest_its_size():
    fills = [_fill(2 * 10**9, fresh_kernel_s=2.6), _fill(8 * 10**9, fresh_kernel_s=33.0)]  # 0.4 and 2.0 s a GB
    assert fill_seconds(fills, 1.8e9) == pytest.approx(0.72)
    assert fill_seconds(fills, 70e9) == pytest.approx(140.0)  # beyond the largest probed: its cost a byte
    assert fill_seconds([], 7e9) == 0.0 and fill_seconds(fills, 0) == 0.0


def test_fills_are_probed_once_per_size_group_and_never_beyond_the_room():
    assert sizes_to_fill([(1.8e9, "uint8"), (7.2e9, "float32"), (7.5e9, "float32"), (0, "uint8")],
                         room=12e9) == [(7_200_000_000, "float32"), (1_800_000_000, "uint8")]
    assert sizes_to_fill([(1.8e9, "float32"), (2.0e9, "float32")], room=12e9) == [(1_800_000_000, "float32")]
    assert sizes_to_fill([(17.7e9, "uint8"), (70.6e9, "float32")], room=7e9) == [
        (7_000_000_000, "float32"), (7_000_000_000, "uint8")]


def test_only_a_memory_caches_first_epoch_adds_its_fill():
    fills = [_fill(8 * 10**9, fresh_kernel_s=33.0)]
    memory, file = CASES_BY_ID["tfdata-memory-float32"], CASES_BY_ID["tfdata-file-float32"]
    assert fill_s(memory, "cold", 8e9, fills) == pytest.approx(16.0)
    assert fill_s(memory, "warm", 8e9, fills) == 0.0
    assert fill_s(file, "cold", 8e9, fills) == 0.0


def test_a_points_rounds_of_faults_are_kept_in_study_json_and_shown_for_a_fill():
    rounds = (PageFaults(1_700_000, 26.8, 20.5), PageFaults(200, 0.5, 2.2))
    point = Point("tfdata-memory-float32", "cold", 12000, (20.5, 2.2), 0, 1, faults=rounds)
    again = Point(**json.loads(json.dumps(asdict(point))))
    assert again.faults == rounds
    assert Point("a", "cold", 1, (1.0,), 0, 1).faults == ()  # a study.json that predates them
    line = faults_line(again)
    assert line.startswith("memory, round by round") and "(26.8 s; 20.5 s)" in line and "(0.5 s; 2.2 s)" in line
    assert kernel_worth_showing(point)  # a fill's pages
    writes = Point("tfdata-file-float32", "cold", 12000, (30.0,), 1, 1, faults=(PageFaults(100, 9.0, 30.0),))
    assert kernel_worth_showing(writes)  # few pages, 30% of the epoch in the kernel: a file cache's writes
    assert not kernel_worth_showing(replace(writes, faults=(PageFaults(100, 1.0, 30.0),)))
    assert not kernel_worth_showing(replace(writes, faults=()))  # not measured


def test_a_memory_caches_held_out_first_epoch_is_its_law_plus_its_fresh_pages():
    """Fitted on small fills whose rounds reuse memory, the law misses the fresh pages of a large fill; the
    held-out error adds them, and the storage bound still wins where it is the slower."""
    case = "tfdata-memory-float32"
    points = [Point(case, "cold", n, (0.002 * n,), 0, n * 150_000) for n in (250, 500, 1000)]
    points.append(Point(case, "cold", 12_000, (36.0,), 0, 12_000 * 150_000))
    fresh = {"cold": 12.0, "warm": 0.0}
    errors = held_out_errors(points, 12_000, fill=lambda c, kind: fresh[kind])
    assert errors[(case, "cold")] == pytest.approx((24 + 12) / 36 - 1)
    bounded = held_out_errors(points, 12_000, io=lambda c, kind: 40.0, fill=lambda c, kind: fresh[kind])
    assert bounded[(case, "cold")] == pytest.approx(40 / 36 - 1)


def test_a_memory_caches_first_epoch_is_shown_with_its_error_at_each_fill_probes_cost():
    """Fills probed at 1 and 2 s a fresh GB before and after the epochs: the 7.2 GB cache's first epoch is
    predicted at their mean and its error given at each alone too; an epoch with no fill has no band."""
    from pipelines.study.bands import errors_of, fill_bands
    from pipelines.study.predictor import Predictor
    from pipelines.study.settings import StudySettings

    case = "tfdata-memory-float32"
    points = [Point(case, kind, n, (0.002 * n,), 0, n * 150_000) for n in (250, 500, 1000, 12_000)
              for kind in ("cold", "warm")]
    fills = [_fill(8 * 10**9, fresh_kernel_s=16.0 * cost + 1.0, when=when)
             for cost, when in ((1.0, "before the epochs"), (2.0, "after the epochs"))]
    settings = StudySettings(sizes=(250, 500, 1000), held_out=12_000, ram_budget=64 * 10**9)
    predictor = Predictor(settings, points, None, 150_000, 10**13, memory_fills=fills)
    errors = errors_of(predictor)
    cache = predictor.cache_bytes(12_000, case)
    assert errors[(case, "cold")] == pytest.approx((24 + 1.5e-9 * cache) / 24 - 1)
    bands = fill_bands(predictor, errors)
    assert bands == {(case, "cold"): pytest.approx(((24 + 1e-9 * cache) / 24 - 1, (24 + 2e-9 * cache) / 24 - 1))}
    assert fill_bands(replace(predictor, memory_fills=fills[:1]), errors) == {}  # one probe: no range


def test_a_memory_caches_first_epoch_is_predicted_at_each_rounds_own_pages_and_no_other_epoch_is():
    from types import SimpleNamespace

    from pipelines.study.settings import StudySettings
    from pipelines.study.storage_lines import own_fill_line

    case = "tfdata-memory-float32"
    points = [Point(c, "cold", n, (0.002 * n,), 0, n * 150_000) for n in (250, 500, 1000)
              for c in (case, "tfdata-file-float32")]
    held = Point(case, "cold", 12_000, (30.0, 24.0), 0, 1,
                 faults=(PageFaults(2 * 10**9 // PAGE_BYTES, 20.0, 30.0), PageFaults(0, 1.0, 24.0)))
    result = SimpleNamespace(settings=StudySettings(sizes=(250, 500, 1000), held_out=12_000),
                             measured=SimpleNamespace(points=points + [held],
                                                      memory_fills=[_fill(8 * 10**9, fresh_kernel_s=33.0)]))
    line = own_fill_line(result, held)  # 2.0 s a fresh GB: the first round's 2 GB add 4 s to the law's 24 s
    assert line == "; at each round's own pages, its law + fresh pages predict 28.0 s (-7%), 24.0 s (+0%)"
    assert own_fill_line(result, replace(held, case="tfdata-file-float32")) == ""  # a file cache: no fill
    assert own_fill_line(result, replace(held, case="tfdata-none-uint8")) == ""  # no cache: nothing filled
    assert own_fill_line(result, replace(held, epoch="warm")) == ""
