"""The smaller machine, enforced (:mod:`pipelines.limits`): a memory cache over the RAM limit is OOM-killed and
recorded so, one under it survives; no cgroup of ours outlives its run, a ``kill -9`` included; throttled reads
run at the rate set; without cgroup rights the options fail with one line saying why.

The cgroup tests need what the suite needs for ``--ram-limit`` (root on cgroup v1, or a delegated cgroup v2
subtree); elsewhere they are skipped, with the reason the options would give.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pipelines.caches.pagecache import evict
from pipelines.limits import cgroup as cg
from pipelines.limits import make
from pipelines.limits.cgroup import CgroupUnavailable, Limits
from pipelines.limits.make import make_cgroup
from pipelines.limits.probe import contract_fields, inside, probe_cache
from pipelines.limits.session import LimitSettings
from pipelines.memory.predict import predict_cache, ram_needed
from tests.conftest import SMALL_CONTRACT
from tests.helpers import bench_in_process

#: ``pytester``: the benchmark run that stops at start runs in this process (tests/helpers.py).
pytest_plugins = ("pytester",)

MB = 10**6


def _cgroup_or_skip(limits: Limits) -> cg.Cgroup:
    try:
        return make_cgroup(limits)
    except CgroupUnavailable as error:
        pytest.skip(f"no cgroup here: {error}")


def _wait_gone(folders, timeout_s: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if not any(Path(f).exists() for f in folders):
            return True
        time.sleep(0.1)
    return False


def test_a_process_over_the_limit_is_oom_killed_and_the_cgroup_removed() -> None:
    cgroup = _cgroup_or_skip(Limits(memory_bytes=200 * MB))
    try:
        hog = subprocess.run(inside(cgroup, [sys.executable, "-c", "x = [bytearray(10**7) for _ in range(60)]"]))
        assert hog.returncode == -signal.SIGKILL and cgroup.oom_kills() == 1
        small = subprocess.run(inside(cgroup, [sys.executable, "-c", "x = [bytearray(10**7) for _ in range(5)]"]))
        assert small.returncode == 0 and cgroup.oom_kills() == 1
    finally:
        cgroup.remove()
    assert not any(f.exists() for f in cgroup.folders)


@pytest.mark.slow
def test_a_memory_cache_over_its_limit_is_oom_killed_and_one_under_it_survives(tiny_dataset) -> None:
    # 11 images of 1536 x 1536 float32: a 311 MB cache, predicted to need 645 MB with the margin and working set.
    contract = SMALL_CONTRACT.with_(image_size=(1536, 1536))
    prediction = predict_cache(tiny_dataset.images, contract.with_(cache="memory", placement="float32"))
    outcomes = {}
    for limit in (600 * MB, 3000 * MB):
        try:
            outcomes[limit] = probe_cache("tfdata", "memory", "float32", tiny_dataset.root, contract_fields(contract),
                                          prediction.total_bytes, ram_needed(prediction), tiny_dataset.images,
                                          Limits(memory_bytes=limit))
        except CgroupUnavailable as error:
            pytest.skip(f"no cgroup here: {error}")
    killed, survived = outcomes[600 * MB], outcomes[3000 * MB]
    assert killed.killed and not killed.predicted_to_fit and killed.as_predicted
    assert killed.line().startswith("oom-killed at ") and "as predicted" in killed.line()
    assert not survived.killed and survived.predicted_to_fit and survived.as_predicted
    assert len(survived.seconds) == 2 and survived.peak_bytes > prediction.total_bytes
    assert survived.line().startswith("survived, as predicted")


def _killed_with_kill_9(make: str, folders: int) -> list[Path]:
    """Run ``make`` (code that makes cgroups and leaves their folders in ``made``) in a child that prints the
    folders and sleeps; ``kill -9`` it once it has; the ``folders`` folders it printed."""
    _cgroup_or_skip(Limits(memory_bytes=100 * MB)).remove()  # skips where none can be made
    script = ("import time\nfrom pipelines.limits.cgroup import Limits\nfrom pipelines.limits.make import make_cgroup\n"
              "from pipelines.limits.session import limit_this_process\n" + make
              + "\nprint(*made, sep='\\n', flush=True)\ntime.sleep(60)")
    with subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True,
                          cwd=Path(__file__).resolve().parent.parent) as maker:
        printed = [Path(maker.stdout.readline().strip()) for _ in range(folders)]
        assert all(folder.is_dir() for folder in printed)
        maker.send_signal(signal.SIGKILL)
        maker.wait()
    return printed


def test_no_cgroup_outlives_a_maker_killed_with_kill_9() -> None:
    folders = _killed_with_kill_9("made = make_cgroup(Limits(memory_bytes=100 * 10**6)).folders", 1)
    assert _wait_gone(folders), f"{folders} left after the maker was killed"


def test_no_cgroup_outlives_a_run_killed_while_a_probe_cgroup_is_made_inside_its_own() -> None:
    run, probe = _killed_with_kill_9(
        "run = limit_this_process(Limits(memory_bytes=500 * 10**6))\n"
        "made = [*run.folders, *make_cgroup(Limits(memory_bytes=200 * 10**6)).folders]", 2)
    assert probe.parent == run
    assert _wait_gone([probe, run]), f"{probe} or {run} left after the run was killed"


def test_an_abandoned_empty_cgroup_of_ours_is_swept_and_nothing_else(tmp_path: Path) -> None:
    ours = tmp_path / f"{cg.PREFIX}999999999-1-0"  # a maker that cannot exist
    theirs = tmp_path / "someone-elses"
    ours.mkdir(), theirs.mkdir()
    assert make.sweep_abandoned_cgroups([tmp_path]) == [ours]
    assert theirs.is_dir() and not ours.exists()


def test_throttled_reads_run_within_15_percent_of_the_rate_set(tmp_path: Path) -> None:
    data = tmp_path / "block.bin"
    data.write_bytes(os.urandom(60 * MB))
    os.sync()
    rate = 40 * MB
    try:
        cgroup = make_cgroup(Limits(read_bps=rate, read_paths=(tmp_path,)))
    except CgroupUnavailable as error:
        pytest.skip(f"no cgroup here: {error}")
    try:
        if not evict([data]):
            pytest.skip("the page cache cannot be evicted here: a read would not reach the disk")
        reader = subprocess.run(inside(cgroup, [sys.executable, "-c", (
            "import sys, time\nstart = time.perf_counter()\nf = open(sys.argv[1], 'rb', buffering=0)\n"
            "while f.read(1 << 20): pass\nprint(time.perf_counter() - start)"), str(data)]),
            capture_output=True, text=True, check=True)
    finally:
        cgroup.remove()
    measured = data.stat().st_size / float(reader.stdout)
    assert abs(measured / rate - 1) <= 0.15, f"read at {measured / MB:.1f} MB/s under a {rate / MB:.0f} MB/s limit"


def test_without_cgroup_rights_the_reason_is_one_line(monkeypatch) -> None:
    monkeypatch.setattr(cg, "mounts", lambda: {})
    with pytest.raises(CgroupUnavailable) as raised:
        make_cgroup(Limits(memory_bytes=100 * MB))
    message = str(raised.value)
    assert "\n" not in message and "root" in message and "Delegate=yes" in message


def test_reads_on_no_block_device_cannot_be_throttled() -> None:
    with pytest.raises(CgroupUnavailable, match="no block device"):
        cg.block_device(Path("/proc/self"))


def test_benchmarks_refuse_limits_they_cannot_enforce_in_one_line(pytester, monkeypatch, tmp_path) -> None:
    monkeypatch.setattr(cg, "mounts", lambda: {})  # no cgroup file system mounted
    done = bench_in_process(pytester, monkeypatch, tmp_path, "--collect-only", "--ram-limit", "4GB")
    assert done.returncode == 4, done.stdout + done.stderr
    reason = [line for line in (done.stdout + done.stderr).splitlines() if "--ram-limit" in line]
    assert len(reason) == 1 and "root" in reason[0] and "Delegate=yes" in reason[0], reason


def test_limit_settings_refuse_what_would_do_nothing() -> None:
    with pytest.raises(ValueError, match="--run-exceeding .* add --ram-limit"):
        LimitSettings(run_exceeding=True)
    with pytest.raises(ValueError, match="--ram-limit must be positive"):
        LimitSettings(ram_limit=0)
    assert LimitSettings(ram_limit=16 * 10**9, read_bandwidth=150 * MB).line() == (
        "RAM limited to 16.0 GB (page cache included), reads limited to 150.0 MB/s")


def test_on_cgroup_v2_the_limits_are_written_as_v2_names_them(tmp_path: Path, monkeypatch) -> None:
    """cgroup v2 is not mounted with controllers on every machine the tests run on: a folder laid out as v2's
    (``cgroup.controllers``, ``cgroup.subtree_control``) stands in for it, to hold what is written where."""
    own = tmp_path / "user.slice" / "me"
    own.mkdir(parents=True)
    (own / "cgroup.controllers").write_text("cpu io memory pids\n")
    (own / "cgroup.subtree_control").write_text("")
    monkeypatch.setattr(cg, "mounts", lambda: {"": tmp_path})
    monkeypatch.setattr(cg, "own_groups", lambda: {"": "/user.slice/me"})
    monkeypatch.setattr(cg, "block_device", lambda path: "254:0")
    made = make_cgroup(Limits(memory_bytes=300 * MB, read_bps=150 * MB, read_paths=(tmp_path,)), watch=False)
    (folder,) = made.folders
    assert made.version == 2 and made.memory == folder and folder.parent == own
    assert (folder / "memory.max").read_text() == f"{300 * MB}\n"
    assert (folder / "io.max").read_text() == f"254:0 rbps={150 * MB}\n"
    assert (own / "cgroup.subtree_control").read_text() == "+io\n"  # each controller enabled in turn



@pytest.mark.slow
def test_a_benchmark_cache_run_exceeding_the_limit_is_reported_beside_its_prediction(tmp_path: Path) -> None:
    _cgroup_or_skip(Limits(memory_bytes=100 * MB)).remove()  # skips where none can be made
    root = Path(__file__).resolve().parent.parent
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "benchmarks/test_throughput.py", "-k",
         "tfdata-memory-float32-cold or tfdata-none-uint8-cold", "-p", "no:cacheprovider", "-rs", "--preset",
         "smoke", "--images", "1000", "--ram-limit", "900MB", "--run-exceeding", "--data-root",
         str(tmp_path / "data"), "--benchmark-json", str(tmp_path / "run.json")],
        cwd=root, capture_output=True, text=True, timeout=600)
    skipped = [line for line in done.stdout.splitlines() if line.startswith("SKIPPED")]
    assert done.returncode == 0 and len(skipped) == 1, done.stdout[-3000:] + done.stderr[-2000:]
    assert "exceeds RAM" in skipped[0] and "run anyway under --ram-limit: oom-killed at" in skipped[0], skipped
    assert "as predicted" in skipped[0] and "not as predicted" not in skipped[0]
    record = json.loads((tmp_path / "run.json").read_text())["loaderbench"]
    assert record["limits"]["ram_limit"] == 900 * MB
    assert [o["case"] for o in record["exceeding"]] == ["tfdata-memory-float32"] and record["exceeding"][0]["killed"]
