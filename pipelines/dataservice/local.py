"""A local tf.data service for a run: a dispatcher and ``N`` workers started as child processes, then stopped.

The tf.data service runs the front of a pipeline (read, decode, resize) in other processes -- a *dispatcher*
that hands out work and *workers* that do it -- and streams the elements to the trainer over gRPC. When no
``--data-service`` address is given, the benchmark run (and the tests) start one on localhost with
:class:`LocalService`, which leaves no process behind: not when the run fails, and not when the parent process
is killed outright (each child watches its parent: :mod:`pipelines.dataservice.worker`, the children's module).

TensorFlow is imported by the children only: the parent needs none of it to start, check or stop a service.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import IO

from pipelines.cleanup.children import LineReader, child_environment, module_command
from pipelines.loaders.service_address import ServiceError, check_service
from pipelines.dataservice.worker import PARENT_ENV
from pipelines.machine import available_cores

#: The module every child runs (``python -m``): a dispatcher or a worker.
CHILD_MODULE = "pipelines.dataservice.worker"
#: A started child's wait for its server: a TensorFlow import is 3-10 s on a busy 2-core machine, and every
#: child imports it at the same time.
READY_TIMEOUT_S = 120.0
#: Seconds a child gets to exit after SIGTERM before it is killed.
STOP_GRACE_S = 5.0
#: Resident memory of an idle worker (or dispatcher) process: a Python interpreter with TensorFlow imported, as
#: measured on TensorFlow 2.21 (Linux, x86-64), rounded up.
WORKER_RSS = 600 * 2**20


def default_workers() -> int:
    """Workers a local service starts when none is asked for: one per core this process may run on, but no
    more than a quarter of the available RAM holds at :data:`WORKER_RSS` each.

    One worker per core is how a tf.data service is laid out on machines of its own, which the local service
    stands in for. On the trainer's own machine more workers cannot add cores, only split them (each worker's
    map already runs on every core, AUTOTUNE): 1 and 2 workers timed the same within noise on 2 cores (see
    :mod:`pipelines.loaders.tfdata_service`). What they do add is a TensorFlow runtime each, hence the cap: one worker
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


@dataclass
class ServerProcess:
    """One server child of a service: its role (``dispatcher``, ``worker 1``...), process, stderr file, command
    arguments (to start it again) and the address it reported."""

    role: str
    process: subprocess.Popen
    stderr: IO[bytes]
    args: tuple[str, ...] = ()
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
    :data:`~pipelines.dataservice.worker.PARENT_POLL_S`: it runs a thread that watches its parent's pid, rather
    than rely on Linux's ``PR_SET_PDEATHSIG``, which needs ``preexec_fn`` (documented unsafe in a multi-threaded
    parent, and a TensorFlow process has dozens of threads), fires when the *thread* that started the child exits
    rather than the process, and exists on Linux only. The children run in a session of their own, so a Ctrl-C
    reaches the parent alone, which then stops them in order.

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
        self._children: list[ServerProcess] = []

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

    def _command(self, role: str, args: Sequence[str]) -> list[str]:
        """The command line of child ``role`` (an emulated host's wraps it: :mod:`~pipelines.dataservice.cluster`)."""
        return module_command(CHILD_MODULE, args)

    def _spawn(self, role: str, args: Sequence[str]) -> ServerProcess:
        env = child_environment({PARENT_ENV: str(os.getpid())})
        stderr = tempfile.TemporaryFile()  # a file, not a pipe: nobody reads it while the child runs
        process = subprocess.Popen(self._command(role, args),
                                   stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=stderr,
                                   env=env, start_new_session=True)
        child = ServerProcess(role, process, stderr, tuple(args))
        self._children.append(child)
        self.pids = self.pids + (process.pid,)
        return child

    def _await_ready(self, child: ServerProcess, deadline: float) -> str:
        """Read ``child``'s stdout up to its ``ready <address>`` line (skipping any other); its stdout is closed
        afterwards (the child has pointed its own at stderr)."""
        stdout = child.process.stdout
        assert stdout is not None
        reader = LineReader(stdout)
        try:
            while True:
                line = reader.line(max(0.0, deadline - time.monotonic()))
                if line is not None and line.startswith("ready "):
                    stdout.close()
                    child.address = line[len("ready "):].strip()
                    return child.address
                if reader.closed:  # stdout closed: the child is gone or going
                    code = child.process.wait(self.grace_s)
                    raise ServiceError(f"tf.data service {child.role} exited with code {code} before it was "
                                       f"ready; its stderr ends:\n{child.stderr_tail()}")
                if line is None:
                    raise ServiceError(f"tf.data service {child.role} (pid {child.process.pid}) did not report "
                                       f"ready within {self.ready_timeout_s:g} s; its stderr ends:\n"
                                       f"{child.stderr_tail()}")
        finally:
            reader.close()

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

