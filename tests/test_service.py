"""The tf.data service loader and the local service: same images as the folder loader, every image exactly once
per epoch, a service that leaves no process behind, and a wrong address that fails in seconds, with its reason.

Every service start imports TensorFlow in each child (a few seconds on 2 cores), so one single-worker service
is shared by the module and the other starts are the tests that are about starting and stopping.
"""

from __future__ import annotations

import socket
import sys
import threading
import time
from pathlib import Path

import numpy as np
import psutil
import pytest

from pipelines.loaders import open_pipeline, unbuildable_reason
from pipelines.loaders.service_address import ServiceError, check_service
from pipelines.dataservice.local import LocalService
from tests.conftest import SMALL_CONTRACT
from tests.helpers import epoch_arrays
from tests.helpers import assert_refused_at_start, bench_in_process, gone, parent_to_kill

#: ``pytester``: the benchmark runs that stop at start or only collect run in this process (tests/helpers.py).
pytest_plugins = ("pytester",)

ROOT = Path(__file__).resolve().parent.parent

# Hang guards, not speed checks: each bounds a wait that ends on its own when the code works and never (or only
# after the tf.data client's long retries) when it does not, at >= 10x the worst measured on a 2-core machine
# with a busy loop on one core (`python -c 'while True: pass'`), so that load cannot trip them.
#: check_service and a build on a wrong address. Measured worst, loaded (10 runs each): 0.51 s against a server
#: that never speaks gRPC (timeout_s=0.5), 0.5 ms refused, 2.5 ms for the build: 20x the slowest.
CHECK_HANG_S = 10.0
#: LocalService.start giving up on a child that never reports ready (0.05 s timeout, then stopping it).
#: Measured worst, loaded (10 runs): 0.059 s: 170x.
START_HANG_S = 10.0
#: A parent starting a LocalService and printing its children's pids. Above the parent's own ready timeout
#: (READY_TIMEOUT_S, 120 s), so that a slow start fails there, with its reason, rather than here.
#: Measured worst, loaded (6 runs): 16.4 s (6.3-16.4 s; 4.9 s unloaded): 15x.
PARENT_HANG_S = 240.0
#: Service children exiting once their parent is killed (they poll it every PARENT_POLL_S, 0.2 s).
#: Measured worst, loaded (6 runs): 0.21 s: 47x.
ORPHAN_HANG_S = 10.0


@pytest.fixture(scope="module")
def service():
    """A dispatcher and one worker on localhost, shared by the module (``.address``, ``.worker_addresses``)."""
    local = LocalService(workers=1)
    with local:
        yield local


def descendants() -> set[int]:
    return {child.pid for child in psutil.Process().children(recursive=True)}


def within(limit_s: float, function, *args, **kwargs):
    """``function(*args, **kwargs)`` in a daemon thread, so that a hang fails the test after ``limit_s`` instead
    of stalling the run: its return value, or its exception raised here. A hang guard, not a speed check."""
    outcome: dict = {}

    def call() -> None:
        try:
            outcome["value"] = function(*args, **kwargs)
        except BaseException as error:  # noqa: BLE001 -- handed to the test's thread as it is
            outcome["error"] = error

    thread = threading.Thread(target=call, name=f"within-{limit_s:g}s", daemon=True)
    thread.start()
    thread.join(limit_s)
    if thread.is_alive():
        pytest.fail(f"{getattr(function, '__qualname__', function)} still running after {limit_s:g} s: it hangs")
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]


def checksums(images: np.ndarray) -> list[bytes]:
    """One fingerprint per image: its bytes, so that equal multisets mean the same images."""
    return sorted(image.tobytes() for image in images)


# --- equality with the folder loader ----------------------------------------------------------------------------


def test_service_yields_the_folder_loaders_images_and_labels(tiny_dataset, service):
    """one worker, no shuffle: same labels in the same order, pixels bit-equal, batch sizes as the contract"""
    (ref_x, ref_y), = epoch_arrays("tfdata", tiny_dataset, SMALL_CONTRACT)
    contract = SMALL_CONTRACT.with_(service_address=service.address)
    with open_pipeline("tfdata-service", tiny_dataset, contract) as pipeline:
        batches = [(np.asarray(x), np.asarray(y)) for x, y in pipeline.epoch()]
    assert [len(y) for _, y in batches] == [4, 4, 3]
    images = np.concatenate([x for x, _ in batches])
    labels = np.concatenate([y for _, y in batches])
    np.testing.assert_array_equal(labels, ref_y)
    assert images.dtype == ref_x.dtype == np.float32
    np.testing.assert_array_equal(images, ref_x)


def test_every_epoch_sees_every_image_once(tiny_dataset, service):
    contract = SMALL_CONTRACT.with_(service_address=service.address)
    (ref_x, ref_y), = epoch_arrays("tfdata", tiny_dataset, SMALL_CONTRACT)
    epochs = epoch_arrays("tfdata-service", tiny_dataset, contract, epochs=2)
    for images, labels in epochs:
        np.testing.assert_array_equal(labels, ref_y)
        np.testing.assert_array_equal(images, ref_x)


def test_shuffled_epochs_differ_and_each_sees_every_image_once(tiny_dataset, service):
    """the service instantiates the pipeline afresh for every epoch: each must be reshuffled, not replayed.

    One parallel call (``parallelism=1``) keeps the order the shuffle made, so that orders can be compared.
    """
    (ref_x, ref_y), = epoch_arrays("tfdata", tiny_dataset, SMALL_CONTRACT)
    contract = SMALL_CONTRACT.with_(service_address=service.address, shuffle=True, parallelism=1)
    epochs = epoch_arrays("tfdata-service", tiny_dataset, contract, epochs=3)
    for images, labels in epochs:
        assert sorted(labels.tolist()) == sorted(ref_y.tolist())
        assert checksums(images) == checksums(ref_x)
    orders = [[image.tobytes() for image in images] for images, _ in epochs]
    assert orders[0] != orders[1] != orders[2], "an epoch replayed the previous one's order"
    (again, _), = epoch_arrays("tfdata-service", tiny_dataset, contract)
    assert [image.tobytes() for image in again] == orders[0], "seeded: a new pipeline starts with the same order"


def test_two_workers_shuffled_see_every_image_once_and_stop_cleanly(tiny_dataset):
    (ref_x, ref_y), = epoch_arrays("tfdata", tiny_dataset, SMALL_CONTRACT)
    local = LocalService(workers=2)
    with local as address:
        assert len(local.worker_addresses) == 2 and check_service(address) == 2
        assert set(local.pids) <= descendants()
        contract = SMALL_CONTRACT.with_(service_address=address, shuffle=True)
        with open_pipeline("tfdata-service", tiny_dataset, contract) as pipeline:
            for _ in range(2):
                batches = [(np.asarray(x), np.asarray(y)) for x, y in pipeline.epoch()]
                assert [len(y) for _, y in batches] == [4, 4, 3]  # rebatched: worker batches are short at the end
                images = np.concatenate([x for x, _ in batches])
                labels = np.concatenate([y for _, y in batches])
                assert sorted(labels.tolist()) == sorted(ref_y.tolist())
                assert checksums(images) == checksums(ref_x)
    assert len(local.pids) == 3
    assert gone(local.pids)
    assert not set(local.pids) & descendants()


# --- starting and stopping ------------------------------------------------------------------------------------


def test_service_stops_cleanly_when_the_body_raises():
    local = LocalService(workers=1)
    with pytest.raises(RuntimeError, match="boom"):
        with local:
            assert len(local.pids) == 2 and not gone(local.pids)
            raise RuntimeError("boom")
    assert gone(local.pids)
    assert not set(local.pids) & descendants()
    assert local.address is None


def test_a_start_that_times_out_says_so_and_leaves_nothing(monkeypatch):
    """a dispatcher that never reports ready (a child that sleeps and prints nothing stands in for it): start gives
    up at its ready timeout, says so, and stops the child. A start that ignored its timeout would wait for ever
    here (caught by the hang guard), not succeed late."""
    monkeypatch.setattr("pipelines.dataservice.local.module_command",
                        lambda module, args: [sys.executable, "-c", "import time; time.sleep(300)"])
    local = LocalService(workers=1, ready_timeout_s=0.05)
    try:
        with pytest.raises(ServiceError, match="dispatcher .* did not report ready within 0.05 s"):
            within(START_HANG_S, local.start)
        assert len(local.pids) == 1 and gone(local.pids)
        assert not set(local.pids) & descendants()
    finally:
        local.stop()  # a no-op unless start hung: its child must not outlive the test


def test_children_exit_when_their_parent_is_killed(tmp_path):
    """a parent killed outright (SIGKILL: no __exit__, no atexit) leaves no service process behind"""
    script = ("import sys, time\n"
              "from pipelines.dataservice.local import LocalService\n"
              "service = LocalService(1)\n"
              "service.start()\n"
              "print(*service.pids, flush=True)\n"
              "time.sleep(600)\n")
    with parent_to_kill(script, PARENT_HANG_S) as line:
        assert line, f"the parent printed no pids within {PARENT_HANG_S:g} s"
        pids = [int(pid) for pid in line.split()]
        assert len(pids) == 2, line
        assert not gone(pids)
    deadline = time.monotonic() + ORPHAN_HANG_S  # a poll with a hang guard: done as soon as both are gone
    while not gone(pids) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert gone(pids), f"a service child outlived its parent by {ORPHAN_HANG_S:g} s"


def test_local_service_needs_a_worker():
    with pytest.raises(ValueError, match="at least one worker"):
        LocalService(workers=0)


# --- wrong addresses -------------------------------------------------------------------------------------------


def test_nothing_listening_fails_fast_with_the_reason():
    """a refused connection is the answer: no wait, no retry (the reason says the check stopped at the connect)"""
    with pytest.raises(ServiceError) as raised:
        within(CHECK_HANG_S, check_service, "grpc://localhost:1")
    assert str(raised.value) == ("no tf.data service dispatcher answers at grpc://localhost:1: connection refused; "
                                 "start one or leave --data-service out to let the suite start a local one")


@pytest.mark.parametrize("address", ["localhost:5050", "grpc://localhost", "http://localhost:5050",
                                     "grpc://localhost:70000", "grpc://localhost:0", "grpc://:5050", ""])
def test_malformed_address_says_what_is_expected(address):
    with pytest.raises(ServiceError, match="malformed tf.data service address .*expected grpc://host:port"):
        check_service(address)


def test_a_server_that_is_no_dispatcher_fails_fast():
    """something accepts the connection but never speaks gRPC: the tf.data client would wait on it. The check's
    timeout is the gRPC call's deadline: DEADLINE_EXCEEDED says it was passed and honoured (without one, gRPC
    gives up on the handshake after 20 s, with UNAVAILABLE)."""
    with socket.socket() as server:
        server.bind(("localhost", 0))
        server.listen()
        accepted: list[socket.socket] = []
        threading.Thread(target=lambda: accepted.append(server.accept()[0]), daemon=True).start()
        with pytest.raises(ServiceError, match="accepts connections but no tf.data service dispatcher answers "
                                               r"there \(DEADLINE_EXCEEDED"):
            within(CHECK_HANG_S, check_service, f"grpc://localhost:{server.getsockname()[1]}", timeout_s=0.5)
        for connection in accepted:
            connection.close()


def test_a_workers_address_is_not_a_dispatchers(service):
    assert check_service(service.address) == 1
    with pytest.raises(ServiceError, match="is not a tf.data service dispatcher .* a worker's address"):
        check_service(f"grpc://{service.worker_addresses[0]}")


def test_building_on_a_wrong_address_fails_fast(tiny_dataset):
    """the build checks the address first: check_service's refusal, not the tf.data client's retries"""
    contract = SMALL_CONTRACT.with_(service_address="grpc://localhost:1")

    def build() -> None:
        with open_pipeline("tfdata-service", tiny_dataset, contract):
            pass

    with pytest.raises(ServiceError, match="connection refused"):
        within(CHECK_HANG_S, build)


def test_the_service_loader_needs_an_address():
    reason = unbuildable_reason("tfdata-service", SMALL_CONTRACT)
    assert reason is not None and "tf.data service" in reason
    assert unbuildable_reason("tfdata-service", SMALL_CONTRACT.with_(service_address="grpc://localhost:1")) is None
    assert unbuildable_reason("tfdata-service", SMALL_CONTRACT.with_(cache="memory")) is not None


# --- --data-service, checked when a benchmark run starts --------------------------------------------------------


def test_a_data_service_without_extended_is_refused_at_start(pytester, monkeypatch, tmp_path):
    """the service cases run only with --extended: the option alone would be ignored, so the run stops at once"""
    done = bench_in_process(pytester, monkeypatch, tmp_path, "--data-service", "grpc://localhost:1")
    assert_refused_at_start(done, tmp_path, "options: --data-service is used by the tf.data service cases, which run "
                                            "only with --extended: add --extended (or leave --data-service out)")


def test_a_data_service_that_does_not_answer_stops_the_run_at_start(pytester, monkeypatch, tmp_path):
    """checked before anything is collected or measured, not when the first service case runs, minutes in"""
    done = bench_in_process(pytester, monkeypatch, tmp_path, "--extended", "--data-service", "grpc://localhost:1")
    assert_refused_at_start(done, tmp_path, "--data-service: no tf.data service dispatcher answers at "
                                            "grpc://localhost:1: connection refused; start one or leave "
                                            "--data-service out to let the suite start a local one")


def test_a_data_service_that_answers_passes_the_start_check(pytester, monkeypatch, tmp_path, service):
    done = bench_in_process(pytester, monkeypatch, tmp_path, "--extended", "--data-service", service.address,
                            "--collect-only", "-k", "service")
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert "tfdata-service-none-uint8" in done.stdout and not (tmp_path / "data").exists()
