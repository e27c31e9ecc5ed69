"""What the disks did during an epoch (:mod:`pipelines.caches.diskstats`): counters read as the kernel writes
them, differences of whole disks only, a storage-bound epoch told from one that is not, and the record kept in
JSON."""

from __future__ import annotations

import json
from dataclasses import asdict

import pytest

from pipelines.caches.diskstats import SECTOR, StorageMeter, StorageTraffic, parse_diskstats

# Two readings of /proc/diskstats a second apart: vda read 2,000 requests (4,000 sectors) taking 25,000 ms of
# request time and was busy 950 ms; its partition vda1 repeats the same requests; loop0 did nothing.
BEFORE = """\
   7       0 loop0 10 0 20 1 0 0 0 0 0 4 1 0 0 0 0
 254       0 vda 1000 5 80000 900 400 10 9000 300 0 2000 1300 0 0 0 0
 254       1 vda1 990 5 79000 890 400 10 9000 300 0 1990 1290 0 0 0 0
 short line
"""
AFTER = """\
   7       0 loop0 10 0 20 1 0 0 0 0 0 4 1 0 0 0 0
 254       0 vda 3000 5 84000 25900 410 10 9800 320 0 2950 26300 0 0 0 0
 254       1 vda1 2990 5 83000 25890 410 10 9800 320 0 2940 26290 0 0 0 0
"""


def _meter(*texts: str) -> StorageMeter:
    readings = iter(texts)
    return StorageMeter(read=lambda: next(readings), disks=lambda: frozenset({"vda", "loop0"}))


def test_the_kernels_counters_are_read_by_device_number_and_a_short_line_is_ignored():
    counters = parse_diskstats(BEFORE)
    assert set(counters) == {"7:0", "254:0", "254:1"}
    vda = counters["254:0"]
    assert (vda.name, vda.reads, vda.read_sectors, vda.read_ms, vda.writes, vda.write_sectors, vda.busy_ms) == (
        "vda", 1000, 80000, 900, 400, 9000, 2000)


def test_an_epoch_counts_the_whole_disks_that_moved_and_not_their_partitions_twice(monkeypatch):
    meter = _meter(BEFORE, AFTER)
    clock = iter([100.0, 101.0])
    monkeypatch.setattr("pipelines.caches.diskstats.time.perf_counter", lambda: next(clock))
    meter.start()
    traffic = meter.stop()
    assert traffic.devices == ("vda",)
    assert (traffic.reads, traffic.read_bytes, traffic.writes, traffic.write_bytes) == (
        2000, 4000 * SECTOR, 10, 800 * SECTOR)
    assert traffic.ms_per_read == pytest.approx(12.5)
    assert traffic.busy == pytest.approx(0.95)
    assert traffic.storage_bound
    assert "vda busy 95%: 2,000 reads of 2.0 MB" in traffic.line() and "12.5 ms each" in traffic.line()


def test_an_epoch_that_moved_nothing_says_so_and_is_not_storage_bound():
    traffic = _meter(BEFORE, BEFORE)
    traffic.start()
    quiet = traffic.stop()
    assert quiet.devices == () and quiet.reads == 0 and not quiet.storage_bound
    assert quiet.line() == "no disk read or wrote anything"


def test_no_counters_record_nothing_rather_than_zero_traffic():
    def unreadable() -> str:
        raise OSError("no /proc here")

    meter = StorageMeter(read=unreadable, disks=lambda: frozenset({"vda"}))
    meter.start()
    assert meter.stop() is None
    with pytest.raises(RuntimeError):
        StorageMeter(read=unreadable).stop()


def test_epochs_add_up_to_the_busy_share_of_their_time_together():
    busy = StorageTraffic(("vda",), 100, 10**6, 1000, 0, 0, 900, 1.0)
    idle = StorageTraffic(("vda",), 0, 0, 0, 0, 0, 100, 1.0)
    together = busy + idle
    assert together.busy == pytest.approx(0.5) and together.reads == 100 and together.devices == ("vda",)


def _counting_disk():
    """A /proc/diskstats whose vda has read 100 more requests (200 sectors, 500 ms) at every reading."""
    calls = iter(range(1, 10**6))

    def read() -> str:
        n = next(calls)
        return f" 254       0 vda {100 * n} 0 {200 * n} {500 * n} 0 0 0 0 0 {400 * n} {500 * n} 0 0 0 0\n"

    return read


def test_a_long_epoch_is_also_counted_a_window_at_a_time_and_the_windows_are_kept():
    """a thread takes the counters every window meanwhile: each whole window's reads, bytes and request time,
    in order (the last part window left out); the windows survive JSON and two rounds' add up in order"""
    import time

    meter = StorageMeter(read=_counting_disk(), disks=lambda: frozenset({"vda"}), window_s=0.02)
    meter.start()
    time.sleep(0.5)
    traffic = meter.stop()
    windows = len(traffic.window_read_bytes)
    assert windows >= 2 and traffic.window_s == 0.02  # ~25; a starved thread on a busy machine takes fewer
    assert traffic.window_read_bytes == (200 * SECTOR,) * windows and traffic.window_reads == (100,) * windows
    assert traffic.window_read_bps == [pytest.approx(200 * SECTOR / 0.02)] * windows
    assert traffic.reads == 100 * (windows + 1)  # the whole epoch: every reading after the first, the last too
    saved = json.loads(json.dumps(asdict(traffic)))
    assert StorageTraffic(**saved) == traffic
    assert len((traffic + traffic).window_reads) == 2 * windows
    plain = StorageMeter(read=_counting_disk(), disks=lambda: frozenset({"vda"}))  # no window_s: no windows
    plain.start()
    time.sleep(0.05)
    assert plain.stop().window_read_bytes == ()


def test_a_meter_started_again_before_it_stops_keeps_one_sampler_thread():
    import threading

    def samplers() -> int:
        return sum(t.name == "storage-windows" for t in threading.enumerate())

    before = samplers()
    meter = StorageMeter(read=_counting_disk(), disks=lambda: frozenset({"vda"}), window_s=0.01)
    meter.start()
    meter.start()  # starts over: the first sampler ends
    assert samplers() == before + 1
    assert meter.stop() is not None and samplers() == before


def test_the_windows_line_gives_the_median_range_and_the_drift_from_first_to_last_quarter():
    minute = 60.0
    rates = [30e6, 20e6, 10e6, 10e6, 10e6, 10e6, 10e6, 10e6]  # bytes/s: a volume that slowed as it was read
    traffic = StorageTraffic(("vda",), 800, int(sum(rates) * minute), 8000, 0, 0, 480_000, 8 * minute,
                             minute, tuple(int(r * minute) for r in rates), (100,) * 8,
                             (1000, 1500, 3000, 3000, 3000, 3000, 3000, 3000))
    line = traffic.windows_line()
    assert line.startswith("read a minute at a time: median 10.0 MB/s, 10.0 MB/s to 30.0 MB/s")
    assert "first quarter 25.0 MB/s, last 10.0 MB/s" in line and "30.0 ms a read, 10.0 to 30.0" in line
    assert StorageTraffic(("vda",), 1, 1, 1, 0, 0, 1, 1.0).windows_line() == ""  # too few windows: nothing said


def test_the_harness_meters_every_timed_epoch_and_the_loaders_memory(tiny_dataset):
    """each timed epoch carries what the disks did during it (where the kernel shows counters) and this
    process's page faults, and the case records this process's peak RSS -- and no workers' figure for a loader
    without worker processes"""
    from pipelines.caches.diskstats import DISKSTATS, whole_disks
    from pipelines.harness.cold_warm import time_epochs
    from pipelines.epoch.run import run_epoch
    from pipelines.harness.plan import RoundPlan
    from pipelines.harness.rounds import OffRecordBenchmark
    from pipelines.loaders import open_pipeline
    from tests.conftest import SMALL_CONTRACT

    for kind in ("cold", "warm"):
        timed = time_epochs(OffRecordBenchmark(), lambda: open_pipeline("tfdata", tiny_dataset, SMALL_CONTRACT),
                            run_epoch, kind, RoundPlan(rounds=2, min_round_s=0.0))
        assert len(timed.runs) == 2
        if DISKSTATS.exists() and whole_disks():
            assert all(run.storage is not None and run.storage.seconds > 0 for run in timed.runs)
            assert timed.storage.seconds == pytest.approx(sum(run.storage.seconds for run in timed.runs))
        assert timed.process_peak_rss_bytes > 0 and timed.workers_peak_rss_bytes is None
        assert all(run.faults is not None and run.faults.seconds > 0 for run in timed.runs)  # and the kernel's

