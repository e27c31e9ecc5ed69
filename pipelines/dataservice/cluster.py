"""A tf.data service cluster of emulated hosts: the dispatcher and each worker on a host of its own
(:mod:`~pipelines.dataservice.hosts`), each worker within a CPU quota (a cgroup), for a ``with`` block.

The trainer -- the process that reads the service's batches -- stays in this process's namespace, across the
bridge from every host, as a trainer reaches a cluster over the network. Each worker is a small host:
``worker_cpus`` cores' worth of CPU time (CFS bandwidth control: the time is capped, the worker's threads still
run on any core), its link optionally limited. The dispatcher's host has no quota: it hands out work and should
not be what a curve measures.

Faults are part of it: :meth:`EmulatedCluster.kill` SIGKILLs a host's server (as a host that dies would
stop), :meth:`EmulatedCluster.restart` starts it again on the same host, address and port (as an orchestrator
would). Everything is removed on leaving the block -- processes, cgroups, namespaces, links, the dispatcher's
work folder -- and, if this process is killed, by the watchers of :mod:`pipelines.limits.reaper`.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Sequence
from contextlib import ExitStack

from pipelines.cleanup.scratch import scratch_folder
from pipelines.dataservice.hosts import Network, in_namespace
from pipelines.dataservice.local import READY_TIMEOUT_S, LocalService, ServerProcess
from pipelines.limits.cgroup import Cgroup, Limits

#: Ports the servers listen on: each host has a network stack of its own, so they are fixed (a restarted server
#: comes back where its clients look for it).
DISPATCHER_PORT = 5050
WORKER_PORT = 5051
#: Each worker host's CPU quota in the benchmark cases on emulated hosts (``tfdata-service-hosts``): half a core.
CASE_WORKER_CPUS = 0.5


class EmulatedCluster(LocalService):
    """A dispatcher and ``workers`` workers, each on an emulated host; ``with EmulatedCluster(2) as address:``.

    Attributes:
        worker_cpus: each worker's CPU quota in cores (``None``: none).
        link_rate_bps: each host's link rate in bits a second (``None``: the veth's own).
        link_delay_s: each host's added one-way delay (netem; ``None``: none).
        fault_tolerant: the dispatcher journals its state in a work folder and resumes it when restarted.
        worker_timeout_s: the dispatcher's wait for a silent worker's heartbeat before it drops it
            (``None``: TensorFlow's default).
        network: the hosts while running.
        cgroups: each worker's cgroup by role while running (``worker1``...).
    """

    def __init__(self, workers: int, worker_cpus: float | None = None, link_rate_bps: int | None = None,
                 link_delay_s: float | None = None, fault_tolerant: bool = False,
                 worker_timeout_s: float | None = None, ready_timeout_s: float = READY_TIMEOUT_S) -> None:
        super().__init__(workers, ready_timeout_s=ready_timeout_s)
        self.worker_cpus = worker_cpus
        self.link_rate_bps = link_rate_bps
        self.link_delay_s = link_delay_s
        self.fault_tolerant = fault_tolerant
        self.worker_timeout_s = worker_timeout_s
        self.network: Network | None = None
        self.cgroups: dict[str, Cgroup] = {}
        self._scratch = ExitStack()

    @staticmethod
    def worker_roles(workers: int) -> list[str]:
        return [f"worker{i + 1}" for i in range(workers)]

    def start(self) -> str:
        """Make the hosts, then start the dispatcher and the workers on them; returns the dispatcher's address."""
        if self._children:
            raise RuntimeError("this EmulatedCluster is already running")
        deadline = time.monotonic() + self.ready_timeout_s
        roles = self.worker_roles(self.workers)
        try:
            self.network = Network(["dispatcher", *roles], self.link_rate_bps, self.link_delay_s)
            self.network.make()
            if self.worker_cpus:
                from pipelines.limits.make import make_cgroup

                for role in roles:
                    self.cgroups[role] = make_cgroup(Limits(cpus=self.worker_cpus))
            dispatcher = self._spawn("dispatcher", self._dispatcher_args())
            self.address = self._await_ready(dispatcher, deadline)
            workers = [self._spawn(role, self._worker_args(role)) for role in roles]
            self.worker_addresses = tuple(self._await_ready(worker, deadline) for worker in workers)
            for worker in workers:
                self._place(worker)
            self._await_registered(deadline)
        except BaseException:
            self.stop()
            raise
        return self.address

    def _dispatcher_args(self) -> list[str]:
        assert self.network is not None
        args = ["dispatcher", "--port", str(DISPATCHER_PORT), "--host", self.network.host("dispatcher").address]
        if self.fault_tolerant:
            work_dir = self._scratch.enter_context(scratch_folder("dispatcher"))
            args += ["--work-dir", str(work_dir), "--fault-tolerant"]
        if self.worker_timeout_s:
            args += ["--worker-timeout", f"{self.worker_timeout_s:g}"]
        return args

    def _worker_args(self, role: str) -> list[str]:
        assert self.network is not None and self.address is not None
        return ["worker", "--dispatcher", self.address, "--port", str(WORKER_PORT),
                "--host", self.network.host(role).address]

    def _command(self, role: str, args: Sequence[str]) -> list[str]:
        assert self.network is not None
        return in_namespace(self.network.host(role).netns, super()._command(role, args))

    def _place(self, child: ServerProcess) -> None:
        """Put a ready worker in its cgroup: its start-up (a TensorFlow import, seconds of CPU) is not what a
        host's quota is there to measure, and would take a quarter-core host a minute."""
        if child.role in self.cgroups:
            self.cgroups[child.role].add(child.process.pid)

    def child(self, role: str) -> ServerProcess:
        for child in self._children:
            if child.role == role:
                return child
        raise KeyError(f"no host {role!r} in this cluster: {', '.join(c.role for c in self._children)}")

    def pid(self, role: str) -> int:
        return self.child(role).process.pid

    def kill(self, role: str) -> None:
        """SIGKILL the server on host ``role`` (``dispatcher``, ``worker1``...), as a host that dies; reaped."""
        process = self.child(role).process
        if process.poll() is None:
            os.kill(process.pid, signal.SIGKILL)
        process.wait()

    def restart(self, role: str, timeout_s: float | None = None) -> None:
        """Start host ``role``'s server again (after :meth:`kill`), same address and port; waits until ready."""
        old = self.child(role)
        if old.process.poll() is None:
            raise RuntimeError(f"{role} is still running: kill it first")
        old.stderr.close()
        self._children.remove(old)
        child = self._spawn(role, old.args)
        self._await_ready(child, time.monotonic() + (timeout_s or self.ready_timeout_s))
        self._place(child)

    def cpu_seconds(self, role: str) -> float:
        """CPU time the server on host ``role`` has used so far (0 once it is gone)."""
        import psutil

        try:
            times = psutil.Process(self.pid(role)).cpu_times()
        except (psutil.Error, KeyError):
            return 0.0
        return times.user + times.system

    def stop(self) -> None:
        """Stop every server, then remove the cgroups, the hosts and the work folder; safe to call twice."""
        super().stop()
        for cgroup in self.cgroups.values():
            cgroup.remove()
        self.cgroups = {}
        if self.network is not None:
            self.network.remove()
            self.network = None
        self._scratch.close()
