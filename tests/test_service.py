"""The tf.data service loader and the local service: same images as the folder loader, every image exactly once
per epoch, a service that leaves no process behind, and a wrong address that fails in seconds, with its reason.

Every service start imports TensorFlow in each child (a few seconds on 2 cores), so one single-worker service
is shared by the module and the other starts are the tests that are about starting and stopping.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import psutil
import pytest

from pipelines.loaders import open_pipeline, unbuildable_reason
from pipelines.service import LocalService, ServiceError, check_service
from tests.conftest import SMALL_CONTRACT
from tests.test_loaders import epoch_arrays

ROOT = Path(__file__).resolve().parent.parent
#: check_service's promise: an answer within about its timeout (2 s), with room for a busy 2-core machine.
FAST_S = 3.0


@pytest.fixture(scope="module")
def service():
    """A dispatcher and one worker on localhost, shared by the module (``.address``, ``.worker_addresses``)."""
    local = LocalService(workers=1)
    with local:
        yield local


def gone(pids) -> bool:
    """None of ``pids`` is a live process (a zombie left to a non-reaping init counts as gone)."""
    for pid in pids:
        try:
            if psutil.Process(pid).status() != psutil.STATUS_ZOMBIE:
                return False
        except psutil.NoSuchProcess:
            pass
    return True


def descendants() -> set[int]:
    return {child.pid for child in psutil.Process().children(recursive=True)}


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


def test_a_start_that_times_out_says_so_and_leaves_nothing():
    local = LocalService(workers=1, ready_timeout_s=0.05)
    started = time.monotonic()
    with pytest.raises(ServiceError, match="dispatcher .* did not report ready within 0.05 s"):
        local.start()
    assert time.monotonic() - started < 10
    assert local.pids and gone(local.pids)
    assert not set(local.pids) & descendants()


def test_children_exit_when_their_parent_is_killed(tmp_path):
    """a parent killed outright (SIGKILL: no __exit__, no atexit) leaves no service process behind"""
    script = ("import sys, time\n"
              "from pipelines.service import LocalService\n"
              "service = LocalService(1)\n"
              "service.start()\n"
              "print(*service.pids, flush=True)\n"
              "time.sleep(600)\n")
    parent = subprocess.Popen([sys.executable, "-c", script], cwd=ROOT, stdout=subprocess.PIPE, text=True,
                              env={**os.environ, "PYTHONPATH": str(ROOT)})
    try:
        line = parent.stdout.readline()
        pids = [int(pid) for pid in line.split()]
        assert len(pids) == 2, line
        assert not gone(pids)
    finally:
        parent.send_signal(signal.SIGKILL)
        parent.wait()
        parent.stdout.close()
    deadline = time.monotonic() + 10
    while not gone(pids) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert gone(pids), "a service child outlived its parent"


def test_local_service_needs_a_worker():
    with pytest.raises(ValueError, match="at least one worker"):
        LocalService(workers=0)


# --- wrong addresses -------------------------------------------------------------------------------------------


def test_nothing_listening_fails_fast_with_the_reason():
    started = time.monotonic()
    with pytest.raises(ServiceError) as raised:
        check_service("grpc://localhost:1")
    assert time.monotonic() - started < FAST_S
    assert str(raised.value) == ("no tf.data service dispatcher answers at grpc://localhost:1: connection refused; "
                                 "start one or leave --data-service out to let the suite start a local one")


@pytest.mark.parametrize("address", ["localhost:5050", "grpc://localhost", "http://localhost:5050",
                                     "grpc://localhost:70000", "grpc://localhost:0", "grpc://:5050", ""])
def test_malformed_address_says_what_is_expected(address):
    with pytest.raises(ServiceError, match="malformed tf.data service address .*expected grpc://host:port"):
        check_service(address)


def test_a_server_that_is_no_dispatcher_fails_fast():
    """something accepts the connection but never speaks gRPC: the tf.data client would wait on it"""
    with socket.socket() as server:
        server.bind(("localhost", 0))
        server.listen()
        accepted: list[socket.socket] = []
        threading.Thread(target=lambda: accepted.append(server.accept()[0]), daemon=True).start()
        started = time.monotonic()
        with pytest.raises(ServiceError, match="accepts connections but no tf.data service dispatcher answers"):
            check_service(f"grpc://localhost:{server.getsockname()[1]}", timeout_s=0.5)
        assert time.monotonic() - started < FAST_S
        for connection in accepted:
            connection.close()


def test_a_workers_address_is_not_a_dispatchers(service):
    assert check_service(service.address) == 1
    with pytest.raises(ServiceError, match="is not a tf.data service dispatcher .* a worker's address"):
        check_service(f"grpc://{service.worker_addresses[0]}")


def test_building_on_a_wrong_address_fails_fast(tiny_dataset):
    contract = SMALL_CONTRACT.with_(service_address="grpc://localhost:1")
    started = time.monotonic()
    with pytest.raises(ServiceError, match="connection refused"):
        with open_pipeline("tfdata-service", tiny_dataset, contract):
            pass
    assert time.monotonic() - started < FAST_S


def test_the_service_loader_needs_an_address():
    reason = unbuildable_reason("tfdata-service", SMALL_CONTRACT)
    assert reason is not None and "tf.data service" in reason
    assert unbuildable_reason("tfdata-service", SMALL_CONTRACT.with_(service_address="grpc://localhost:1")) is None
    assert unbuildable_reason("tfdata-service", SMALL_CONTRACT.with_(cache="memory")) is not None
