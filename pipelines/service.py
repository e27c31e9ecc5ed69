"""A tf.data service for the service loader: start a local one, or check the address of an existing one.

The tf.data service runs the front of a pipeline (read, decode, resize) in other processes -- a *dispatcher*
that hands out work and *workers* that do it -- and streams the elements to the trainer over gRPC. The suite
needs two things from it, and both live here rather than in a test fixture, because the benchmark run and the
tests share them:

* :class:`LocalService`: a dispatcher and ``N`` workers started as child processes on localhost for a run and
  stopped when it ends, leaving no process behind (even when the run fails, and even when the parent process is
  killed outright: each child watches its parent and exits when it is gone).
* :func:`check_service`: a given address (``--data-service grpc://host:port``) checked in a few seconds, with a
  message that says what is wrong. The tf.data client itself retries an unreachable dispatcher for a long time
  and then fails with a gRPC status, which reads like a hang followed by a riddle.

The children run this module: ``python -m pipelines.service dispatcher [--port 0]`` and ``python -m
pipelines.service worker --dispatcher grpc://host:port [--port 0]``. Each prints one line, ``ready <address>``,
once its server is up, then serves until it is stopped. They may equally be started by hand, on other
machines, to give the suite a service of real extra cores.

TensorFlow is imported by the children only: the parent needs none of it to start, check or stop a service.
"""

from __future__ import annotations

import argparse
import os
import re
import selectors
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import IO

from pipelines.child import child_environment, module_command
from pipelines.config import available_cores

#: How a child learns whose child it is (see :func:`_watch_parent`).
PARENT_ENV = "LOADERBENCH_SERVICE_PARENT"
#: Seconds between a child's checks that its parent is still alive: the longest an orphan outlives its parent.
PARENT_POLL_S = 0.2
#: A started child's wait for its server: a TensorFlow import is 3-10 s on a busy 2-core machine, and every
#: child imports it at the same time.
READY_TIMEOUT_S = 120.0
#: Seconds a child gets to exit after SIGTERM before it is killed.
STOP_GRACE_S = 5.0
#: Resident memory of an idle worker (or dispatcher) process: a Python interpreter with TensorFlow imported,
#: measured at 570 MiB on TensorFlow 2.21 (Linux, x86-64).
WORKER_RSS = 600 * 2**20

_ADDRESS = re.compile(r"grpc://(?P<host>\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9_.-]+):(?P<port>[0-9]{1,5})")
_ADVICE = "start one or leave --data-service out to let the suite start a local one"


class ServiceError(RuntimeError):
    """A tf.data service that cannot be used: a malformed address, nothing answering, a child that failed."""


def default_workers() -> int:
    """Workers a local service starts when none is asked for: one per core this process may run on, but no
    more than a quarter of the available RAM holds at :data:`WORKER_RSS` each.

    One worker per core is how a tf.data service is laid out on machines of its own, which the local service
    stands in for. On the trainer's own machine more workers cannot add cores, only split them (each worker's
    map already runs on every core, AUTOTUNE): 1 and 2 workers timed the same within noise on 2 cores (see
    :mod:`pipelines.loaders.service`). What they do add is a TensorFlow runtime each, hence the cap: one worker
    per core of a 64-core machine would hold ~36 GB before decoding anything. ``--service-workers`` sets another
    count.
    """
    cores = available_cores()
    try:
        import psutil

        affordable = psutil.virtual_memory().available // 4 // WORKER_RSS
    except ImportError:
        affordable = cores
    return max(1, min(cores, affordable))


@dataclass(frozen=True)
class Address:
    """A parsed ``grpc://host:port`` dispatcher address."""

    host: str
    port: int

    @property
    def target(self) -> str:
        """``host:port``, as ``WorkerConfig.dispatcher_address`` and gRPC channels take it."""
        return f"{self.host}:{self.port}"

    @property
    def url(self) -> str:
        return f"grpc://{self.target}"


def parse_address(address: str) -> Address:
    """``grpc://host:port`` -> :class:`Address`; :class:`ServiceError` for anything else."""
    match = _ADDRESS.fullmatch(address.strip()) if isinstance(address, str) else None
    port = int(match["port"]) if match else 0
    if not match or not 0 < port < 65536:
        raise ServiceError(f"malformed tf.data service address {address!r}: expected grpc://host:port "
                           "(e.g. grpc://localhost:5050)")
    return Address(match["host"], port)


def check_service(address: str, timeout_s: float = 2.0) -> int:
    """Check that a tf.data service dispatcher answers at ``address`` within about ``timeout_s`` seconds.

    Three steps, each with its own message: the address must read ``grpc://host:port``; something must accept a
    TCP connection there; and it must answer the dispatcher's own ``GetWorkers`` call with at least one
    registered worker (a worker's address, or another server, answers but is no dispatcher; a dispatcher with
    no worker would leave every epoch waiting). The last step needs the ``grpcio`` package (a dependency of
    TensorFlow) and is skipped without it.

    Returns:
        the number of workers registered with the dispatcher (``-1`` when grpcio is missing).

    Raises:
        ServiceError: with the reason, within about ``timeout_s`` (twice that at most).
    """
    parsed = parse_address(address)
    where = parsed.url
    try:
        with socket.create_connection((parsed.host.strip("[]"), parsed.port), timeout=timeout_s):
            pass
    except ConnectionRefusedError:
        raise ServiceError(f"no tf.data service dispatcher answers at {where}: connection refused; {_ADVICE}") \
            from None
    except socket.gaierror as error:
        raise ServiceError(f"no tf.data service dispatcher answers at {where}: unknown host "
                           f"{parsed.host!r} ({error.strerror}); {_ADVICE}") from None
    except TimeoutError:
        raise ServiceError(f"no tf.data service dispatcher answers at {where}: no answer within {timeout_s:g} s "
                           f"(a firewall, or a host that is down); {_ADVICE}") from None
    except OSError as error:
        raise ServiceError(f"no tf.data service dispatcher answers at {where}: {error.strerror or error}; "
                           f"{_ADVICE}") from None
    return _registered_workers(parsed, timeout_s)


def _registered_workers(address: Address, timeout_s: float) -> int:
    """The dispatcher's ``GetWorkers`` call, made with raw protobuf bytes (the message types are not exported
    by TensorFlow's wheel): the request is empty, and the response's field 1 is repeated, one per worker."""
    try:
        import grpc
    except ImportError:
        return -1
    where = address.url
    with grpc.insecure_channel(address.target) as channel:
        call = channel.unary_unary("/tensorflow.data.DispatcherService/GetWorkers")
        try:
            response = call(b"", timeout=timeout_s)
        except grpc.RpcError as error:
            code = error.code() if hasattr(error, "code") else None
            if code == grpc.StatusCode.UNIMPLEMENTED:
                raise ServiceError(f"{where} answers but is not a tf.data service dispatcher (it does not know the "
                                   "dispatcher's calls): is it a worker's address?") from None
            detail = error.details() if hasattr(error, "details") else str(error)
            raise ServiceError(f"{where} accepts connections but no tf.data service dispatcher answers there "
                               f"({code.name if code else 'error'}: {detail}); {_ADVICE}") from None
    workers = _count_field(response, 1)
    if workers == 0:
        raise ServiceError(f"the tf.data service dispatcher at {where} has no worker: every epoch would wait for "
                           f"one; start workers (python -m pipelines.service worker --dispatcher {where})")
    return workers


def _count_field(message: bytes, number: int) -> int:
    """Occurrences of length-delimited field ``number`` at the top level of a serialised protobuf message."""
    count = position = 0

    def varint() -> int:
        nonlocal position
        value = shift = 0
        while True:
            byte = message[position]
            position += 1
            value |= (byte & 0x7F) << shift
            shift += 7
            if not byte & 0x80:
                return value

    try:
        while position < len(message):
            key = varint()
            field, wire = key >> 3, key & 7
            if wire == 0:
                varint()
            elif wire == 1:
                position += 8
            elif wire == 2:
                length = varint()  # read before the add: ``position += varint()`` would add to the old position
                position += length
                count += field == number
            elif wire == 5:
                position += 4
            else:
                raise ValueError(f"wire type {wire}")
        if position > len(message):
            raise ValueError("truncated message")
    except (IndexError, ValueError) as error:
        raise ServiceError(f"unreadable answer from the tf.data service dispatcher ({error})") from None
    return count


# --- the local service ----------------------------------------------------------------------------------------


@dataclass
class _Child:
    role: str
    process: subprocess.Popen
    stderr: IO[bytes]
    address: str = ""

    def stderr_tail(self, limit: int = 4000) -> str:
        self.stderr.flush()
        self.stderr.seek(0)
        text = self.stderr.read().decode(errors="replace").strip()
        return text[-limit:] if text else "(nothing)"


class LocalService:
    """A tf.data service on localhost: a dispatcher and ``workers`` worker processes, for a ``with`` block.

    ``with LocalService(2) as address:`` starts them, waits until each has reported ready and every worker has
    registered with the dispatcher, and gives the dispatcher's ``grpc://localhost:PORT``; on leaving the block,
    even by an exception, every child is stopped (SIGTERM, then SIGKILL after ``grace_s``) and reaped.

    A child whose parent dies without leaving the block (SIGKILL, a crash) exits on its own within
    :data:`PARENT_POLL_S`: it runs a thread that watches its parent's pid. That was chosen over Linux's
    ``PR_SET_PDEATHSIG``, which needs ``preexec_fn`` (documented unsafe in a multi-threaded parent, and a
    TensorFlow process has dozens of threads), fires when the *thread* that started the child exits rather than
    the process, and exists on Linux only. The children run in a session of their own, so a Ctrl-C reaches the
    parent alone, which then stops them in order.

    Attributes:
        workers: the worker count asked for.
        address: the dispatcher's ``grpc://localhost:PORT`` while running.
        worker_addresses: the workers' ``localhost:PORT`` while running.
        pids: every child's process id (dispatcher first), kept after the stop for checks.
    """

    def __init__(self, workers: int, ready_timeout_s: float = READY_TIMEOUT_S, grace_s: float = STOP_GRACE_S):
        if workers < 1:
            raise ValueError(f"a tf.data service needs at least one worker, got {workers}")
        self.workers = workers
        self.ready_timeout_s = ready_timeout_s
        self.grace_s = grace_s
        self.address: str | None = None
        self.worker_addresses: tuple[str, ...] = ()
        self.pids: tuple[int, ...] = ()
        self._children: list[_Child] = []

    def __enter__(self) -> str:
        return self.start()

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self.stop()

    def start(self) -> str:
        """Start the dispatcher and the workers; returns the dispatcher's address."""
        if self._children:
            raise RuntimeError("this LocalService is already running")
        deadline = time.monotonic() + self.ready_timeout_s
        self.pids = ()
        try:
            dispatcher = self._spawn("dispatcher", ["dispatcher", "--port", "0"])
            self.address = self._await_ready(dispatcher, deadline)
            workers = [self._spawn(f"worker {i + 1}", ["worker", "--dispatcher", self.address, "--port", "0"])
                       for i in range(self.workers)]
            self.worker_addresses = tuple(self._await_ready(worker, deadline) for worker in workers)
            self._await_registered(deadline)
        except BaseException:
            self.stop()
            raise
        return self.address

    def stop(self) -> None:
        """Stop every child (workers first) and reap it; safe to call twice."""
        children, self._children = self._children[::-1], []
        for child in children:
            if child.process.poll() is None:
                child.process.terminate()
        deadline = time.monotonic() + self.grace_s
        for child in children:
            try:
                child.process.wait(max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                child.process.kill()
                child.process.wait()
            if child.process.stdout is not None:
                child.process.stdout.close()  # still open when the child never reported ready
            child.stderr.close()
        self.address = None
        self.worker_addresses = ()

    def _spawn(self, role: str, args: Sequence[str]) -> _Child:
        env = child_environment({PARENT_ENV: str(os.getpid())})
        stderr = tempfile.TemporaryFile()  # a file, not a pipe: nobody reads it while the child runs
        process = subprocess.Popen(module_command("pipelines.service", args),
                                   stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=stderr,
                                   env=env, start_new_session=True)
        child = _Child(role, process, stderr)
        self._children.append(child)
        self.pids = self.pids + (process.pid,)
        return child

    def _await_ready(self, child: _Child, deadline: float) -> str:
        """Read ``child``'s stdout up to its ``ready <address>`` line (skipping any other); its stdout is closed
        afterwards (the child has pointed its own at stderr)."""
        stdout = child.process.stdout
        assert stdout is not None
        buffer = b""
        with selectors.DefaultSelector() as selector:
            selector.register(stdout, selectors.EVENT_READ)
            while True:
                while b"\n" in buffer:
                    line, buffer = buffer.split(b"\n", 1)
                    if line.startswith(b"ready "):
                        stdout.close()
                        child.address = line[len(b"ready "):].decode(errors="replace").strip()
                        return child.address
                left = deadline - time.monotonic()
                if left <= 0:
                    raise ServiceError(f"tf.data service {child.role} (pid {child.process.pid}) did not report ready "
                                       f"within {self.ready_timeout_s:g} s; its stderr ends:\n"
                                       f"{child.stderr_tail()}")
                if selector.select(min(left, 0.5)):
                    chunk = os.read(stdout.fileno(), 4096)
                    if not chunk:  # stdout closed: the child is gone or going
                        code = child.process.wait(self.grace_s)
                        raise ServiceError(f"tf.data service {child.role} exited with code {code} before it was "
                                           f"ready; its stderr ends:\n{child.stderr_tail()}")
                    buffer += chunk

    def _await_registered(self, deadline: float) -> None:
        """Wait until the dispatcher lists every worker (a worker reports ready once it has registered, so this
        is a check more than a wait)."""
        assert self.address is not None
        registered = -1
        while time.monotonic() < deadline:
            try:
                registered = check_service(self.address, timeout_s=2.0)
            except ServiceError as error:
                if "has no worker" not in str(error):
                    raise
                registered = 0
            if registered < 0 or registered >= self.workers:
                return
            time.sleep(0.1)
        raise ServiceError(f"only {registered} of {self.workers} tf.data service workers registered with the "
                           f"dispatcher within {self.ready_timeout_s:g} s")


# --- the children ---------------------------------------------------------------------------------------------


def _watch_parent() -> None:
    """Exit this process as soon as the parent named in :data:`PARENT_ENV` is gone (its pid is then no longer
    this process's parent: an orphan is adopted by init or a subreaper)."""
    expected = os.environ.get(PARENT_ENV)
    if not expected:
        return  # started by hand: it serves until stopped

    def watch() -> None:
        while os.getppid() == int(expected):
            time.sleep(PARENT_POLL_S)
        os._exit(0)

    threading.Thread(target=watch, name="parent-watchdog", daemon=True).start()


def _ready(address: str) -> None:
    """Report ``ready <address>`` on stdout, then point stdout at stderr: the parent stops reading it."""
    sys.stdout.write(f"ready {address}\n")
    sys.stdout.flush()
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pipelines.service",
                                     description="Run a tf.data service dispatcher or worker until stopped.")
    roles = parser.add_subparsers(dest="role", required=True)
    dispatcher = roles.add_parser("dispatcher", help="the dispatcher: hands out work, prints its grpc:// address")
    dispatcher.add_argument("--port", type=int, default=0, help="port to listen on (default 0: any free port)")
    worker = roles.add_parser("worker", help="a worker: processes the pipeline's elements")
    worker.add_argument("--dispatcher", required=True, metavar="grpc://HOST:PORT", help="the dispatcher's address")
    worker.add_argument("--port", type=int, default=0, help="port to listen on (default 0: any free port)")
    worker.add_argument("--host", default="localhost",
                        help="the name clients reach this worker by (default localhost; another machine's workers "
                             "need their own host name here, since the dispatcher hands it to the clients)")
    args = parser.parse_args(argv)
    _watch_parent()
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

    import tensorflow as tf

    service = tf.data.experimental.service
    if args.role == "dispatcher":
        server = service.DispatchServer(service.DispatcherConfig(port=args.port))
        _ready(server.target)
    else:
        try:
            target = parse_address(args.dispatcher).target
        except ServiceError as error:
            parser.error(str(error))
        server = service.WorkerServer(service.WorkerConfig(dispatcher_address=target, port=args.port,
                                                           worker_address=f"{args.host}:%port%"))
        port = server._address.rsplit(":", 1)[1]  # "localhost:PORT": the public API has no getter for the port
        _ready(f"{args.host}:{port}")
    server.join()
    return 0


if __name__ == "__main__":
    sys.exit(main())
