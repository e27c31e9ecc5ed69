"""The tf.data service on emulated hosts: every element exactly once on two namespace workers, a killed worker's
loss counted and bounded, nothing left after ``kill -9`` of the parent, a dispatcher in another namespace used
by the benchmarks and an unreachable one refused in seconds, and one line where hosts cannot be emulated.

Needs root (network namespaces, veth links, cgroups): without it the tests that make hosts are skipped with the
same one-line reason the commands give, and the test of that reason runs everywhere.
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

from pipelines.dataservice import __main__ as command
from pipelines.loaders.service_address import ServiceError, check_service
from pipelines.dataservice.cluster import DISPATCHER_PORT, EmulatedCluster
from pipelines.dataservice.faults import SCENARIOS, in_flight_bound, run_scenario
from pipelines.cleanup.netns import NETNS_DIR, leftovers
from pipelines.dataservice.hosts import Network, emulation_unavailable, netem_available, sweep_abandoned_hosts
from pipelines.datasets import prepare_dataset
from pipelines.machine import available_cores
from tests.helpers import bench_in_process, gone, parent_to_kill

#: ``pytester``: a benchmark run in this process (tests/helpers.py).
pytest_plugins = ("pytester",)

ROOT = Path(__file__).resolve().parent.parent
needs_hosts = pytest.mark.skipif(emulation_unavailable() is not None, reason=str(emulation_unavailable()))
SCENARIO = {s.name: s for s in SCENARIOS}
#: Hang guards, not speed checks: an unreachable dispatcher must be refused within the issue's 10 s (measured:
#: 2.0 s for a silent address, its connect timeout; 1 ms refused), and a killed parent's hosts must be gone
#: within 20 s (its watcher polls every 0.5 s; measured 0.6-1.2 s).
REFUSED_WITHIN_S = 10.0
SWEPT_WITHIN_S = 20.0


@pytest.fixture(scope="module")
def faults_dataset(tmp_path_factory) -> Path:
    """200 images of the default shape: an epoch of about a second on two tenth-of-a-core workers."""
    return prepare_dataset(preset="smoke", images=200, data_root=tmp_path_factory.mktemp("data"), progress=False)


@needs_hosts
def test_two_namespace_workers_serve_every_element_exactly_once(faults_dataset):
    outcome = run_scenario(SCENARIO["dynamic-no-fault"], faults_dataset.root, faults_dataset.images,
                           worker_cpus=0.2, worker_timeout_s=5.0, wait_s=60.0)
    assert outcome.finished and outcome.as_documented, outcome
    assert (outcome.seen, outcome.duplicates, outcome.missing) == (faults_dataset.images, 0, 0)


@needs_hosts
def test_a_killed_workers_loss_is_counted_and_no_more_than_it_held(faults_dataset):
    """worker1 SIGKILLed at 40% of the epoch and restarted: under DYNAMIC nothing is repeated, and what is lost is
    at most what one worker can hold un-delivered (its batches in progress and its map's calls)."""
    outcome = run_scenario(SCENARIO["dynamic-worker-restarted"], faults_dataset.root, faults_dataset.images,
                           worker_cpus=0.1, worker_timeout_s=5.0, wait_s=60.0)
    assert outcome.finished, outcome
    assert outcome.duplicates == 0, outcome
    assert outcome.seen + outcome.missing == faults_dataset.images
    assert outcome.missing <= in_flight_bound(available_cores()), outcome


#: A parent that starts a cluster, prints what it made, then waits to be killed.
_PARENT = """
import json, sys, time
from pipelines.dataservice.cluster import EmulatedCluster
cluster = EmulatedCluster(2, worker_cpus=0.5)
cluster.start()
print(json.dumps({"pids": list(cluster.pids), "netns": cluster.network.namespaces, "links": cluster.network.links,
                  "cgroups": [str(f) for c in cluster.cgroups.values() for f in c.folders]}), flush=True)
time.sleep(600)
"""


@needs_hosts
def test_nothing_is_left_after_kill_9_of_the_parent():
    with parent_to_kill(_PARENT, 240) as line:
        assert line, "the parent printed nothing"
        made = json.loads(line)
        assert all((NETNS_DIR / n).exists() for n in made["netns"]) and len(made["netns"]) == 3
        assert all(Path("/sys/class/net", link).exists() for link in made["links"])
        assert len(made["cgroups"]) == 2 and all(Path(c).is_dir() for c in made["cgroups"])
    deadline = time.monotonic() + SWEPT_WITHIN_S

    def left() -> list[str]:
        return ([n for n in made["netns"] if (NETNS_DIR / n).exists()]
                + [link for link in made["links"] if Path("/sys/class/net", link).exists()]
                + [c for c in made["cgroups"] if Path(c).exists()]
                + [str(p) for p in made["pids"] if not gone([p])])

    while left() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not left(), f"left {SWEPT_WITHIN_S:g} s after kill -9 of the parent: {left()}"
    listed = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    assert not any(n in listed for n in made["netns"])


_HOSTS_PARENT = """
import json, time
from pipelines.dataservice.hosts import Network
network = Network(["one", "two"])
network.make()
print(json.dumps({"netns": network.namespaces, "links": network.links, "reaper": network._reaper.pid}), flush=True)
time.sleep(600)
"""


@needs_hosts
def test_the_next_start_sweeps_what_a_killed_run_and_its_watcher_left():
    with parent_to_kill(_HOSTS_PARENT, 240) as line:
        made = json.loads(line or "{}")
        if made:
            os.kill(made["reaper"], signal.SIGKILL)  # the watcher first, so that nobody removes them
    assert made, "the parent printed nothing"
    assert leftovers(made["netns"], made["links"])  # nobody removed them
    removed = sweep_abandoned_hosts()
    assert set(made["netns"]) | set(made["links"]) <= set(removed)
    assert not leftovers(made["netns"], made["links"])


@needs_hosts
def test_an_unreachable_dispatcher_is_refused_within_seconds():
    """a host with no dispatcher (connection refused) and an address no host has (no answer at all)"""
    with Network(["nothing"]) as network:
        silent_host = network.host("nothing").address.rsplit(".", 1)[0] + ".250"
        for address in (f"grpc://{network.host('nothing').address}:{DISPATCHER_PORT}",
                        f"grpc://{silent_host}:{DISPATCHER_PORT}"):
            started = time.monotonic()
            with pytest.raises(ServiceError, match="no tf.data service dispatcher answers at") as raised:
                check_service(address)
            assert time.monotonic() - started < REFUSED_WITHIN_S
            assert "\n" not in str(raised.value)


@needs_hosts
def test_the_benchmarks_read_a_dispatcher_in_another_namespace(tmp_path):
    """``--data-service`` on a dispatcher with its own network stack: the service case runs every image"""
    with EmulatedCluster(1, worker_cpus=0.5) as address:
        assert not address.startswith("grpc://localhost")
        done = subprocess.run([sys.executable, "-m", "pytest", "benchmarks", "-p", "no:cacheprovider", "-q",
                               "--extended", "-k", "tfdata-service-none-uint8-warm", "--data-service", address,
                               "--images", "12", "--rounds", "1", "--min-round-s", "0", "--benchmark-disable",
                               "--data-root", str(tmp_path)], cwd=ROOT, capture_output=True, text=True,
                              env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "1 passed" in done.stdout


def test_without_root_the_commands_refuse_in_one_line_and_the_cases_skip(monkeypatch, capsys):
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    emulation_unavailable.cache_clear()
    try:
        reason = emulation_unavailable()
        assert reason and "need root" in reason and "\n" not in reason
        assert command.main(["scale", "--hosts", "1"]) == 2
        assert capsys.readouterr().err == f"python -m pipelines.dataservice scale: error: {reason}\n"
    finally:
        emulation_unavailable.cache_clear()


def test_without_root_the_hosts_cases_skip_with_the_reason(pytester, monkeypatch, tmp_path):
    """the benchmark cases on emulated hosts, in a run that is not root: skipped, the reason in one line"""
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    emulation_unavailable.cache_clear()
    try:
        done = bench_in_process(pytester, monkeypatch, tmp_path, "--extended", "-k",
                                "tfdata-service-hosts-none-uint8-warm", "--images", "12", "--rounds", "1",
                                "--min-round-s", "0", "--benchmark-disable", "-rs")
    finally:
        emulation_unavailable.cache_clear()
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "1 skipped" in done.stdout and "emulated hosts need root" in done.stdout, done.stdout[-3000:]


@pytest.mark.skipif(emulation_unavailable() is not None or netem_available(),
                    reason="needs emulated hosts on a kernel without netem")
def test_a_link_delay_is_refused_in_one_line_without_netem(capsys):
    assert command.main(["scale", "--link-delay", "2ms"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no netem qdisc" in err and "--link-delay" in err


@pytest.mark.parametrize(("argv", "expected"), [
    (["scale", "--worker-cpus", "-1"], "argument --worker-cpus: a number above 0"),
    (["scale", "--link-rate", "fast"], "a link rate in bits a second, e.g. 1gbit"),
    (["scale", "--hosts", "0"], "argument --hosts: comma-separated whole numbers of at least 1"),
    (["faults", "--wait", "0"], "argument --wait: a number above 0"),
    (["faults", "--only", "nope"], "--only: no scenario nope; choose from dynamic-no-fault"),
])
def test_the_commands_refuse_bad_values_in_one_line_before_any_work(argv, expected, capsys):
    try:
        code = command.main(argv)
    except SystemExit as exit_:  # argparse's refusal
        code = exit_.code
    err = capsys.readouterr().err
    assert code == 2 and expected in err and err.count("\n") == 1, err


# --- the answer from the curve (no hosts needed) ---------------------------------------------------------------


def _point(workers, rate, spread=0.02, bound="workers"):
    from pipelines.dataservice.curve import Point, Usage

    shares = dict(workers=0.5, dispatcher=0.1, link=None, trainer=0.3, machine=0.5)
    shares[bound] = 0.95
    return Point(workers, rate, spread, Usage(**shares))


def test_workers_needed_follows_the_added_workers_rate_and_checks_the_nearest_count():
    from pipelines.dataservice.curve import workers_needed

    points = [_point(1, 400), _point(2, 790), _point(4, 1560)]
    needed = workers_needed(points, 2000)
    assert needed["workers"] == 6 and needed["extrapolated"]  # 4 + 440 / 386 an added worker = 5.1 -> 6
    assert needed["low"] <= needed["workers"] <= needed["high"]
    check = needed["check"]
    assert check["workers"] == 4 and check["from_points"] == [1, 2]
    assert check["low"] <= check["predicted_images_per_sec"] <= check["high"] and check["holds"]


def test_a_check_that_misses_says_so():
    from pipelines.dataservice.curve import workers_needed

    needed = workers_needed([_point(1, 400), _point(2, 800), _point(4, 900)], 2000)
    assert needed["check"]["holds"] is False  # 800 + 2 x 400 predicted, 900 measured


def test_a_measured_count_that_reaches_the_accelerator_is_read_between_points():
    from pipelines.dataservice.curve import workers_needed

    needed = workers_needed([_point(1, 400), _point(2, 800), _point(4, 1600)], 1000)
    assert needed["workers"] == 3 and not needed["extrapolated"]  # 2.5 workers on the 2-4 segment


def test_when_the_trainer_caps_the_curve_no_count_reaches_the_accelerator():
    from pipelines.dataservice.curve import needed_line, workers_needed

    needed = workers_needed([_point(1, 400), _point(2, 700, bound="trainer")], 2000)
    assert needed["workers"] is None and "trainer" in needed["reason"]
    assert needed_line(needed, 2000).startswith("workers needed for 2,000 img/s: none reaches it")


def test_the_saturated_resource_is_the_one_nearest_its_limit():
    from pipelines.dataservice.curve import Usage

    assert Usage(0.97, 0.05, None, 0.4, 0.8).saturated() == "workers"
    assert Usage(0.5, 0.05, 0.93, 0.4, 0.8).saturated() == "link"
    assert Usage(0.3, 0.05, None, 0.4, 0.5).saturated() == "none near its limit"
