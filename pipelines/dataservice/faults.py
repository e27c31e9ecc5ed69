"""What a host's death costs a tf.data service epoch, counted against the service's documented promise.

Each scenario runs one epoch on a fresh cluster of emulated hosts (:mod:`~pipelines.dataservice.cluster`):
two workers, every element carrying its index, read by a client process (:mod:`~pipelines.dataservice.children`)
that counts each index. A fault is injected once the client has seen :data:`KILL_AT` of the elements: a worker
or the dispatcher is SIGKILLed (a host that dies), and, where the scenario says so, started again on the same
host and port at once (an orchestrator's restart; the restart itself takes a TensorFlow import).

Counted exactly: elements seen more than once (``duplicates``: extra deliveries), elements never seen
(``missing``), the longest wait between two batches (``stall_s``), and whether the epoch finished -- within a
bounded wait, after which it is reported as hung and its client killed, never waited on for ever.

The promises, from TensorFlow's documentation of ``ShardingPolicy`` and ``DispatcherConfig``:

* ``OFF``: each worker produces the entire dataset, and a restarted worker begins it again from the beginning:
  no element is missed while a worker lives (duplicates are the design: one copy per worker).
* ``DYNAMIC``: at most once -- no element is repeated; some may be missed when a worker dies while processing.
* The dispatcher keeps its state in memory unless ``fault_tolerant_mode`` journals it to a ``work_dir``: without
  it a restart loses the jobs (the epoch cannot finish as it started); with it, no state is lost.

Static sharding (``FILE``, ``DATA``) is left out: it needs every trainer to read only from a worker on its own
host, which one trainer across the bridge from its workers does not have.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from pipelines.dataservice.children import CLIENT_BATCH, Child
from pipelines.dataservice.cluster import EmulatedCluster

#: Share of the epoch's elements the client has seen when the fault is injected.
KILL_AT = 0.4
#: Workers of every scenario's cluster.
WORKERS = 2


def in_flight_bound(cores: int) -> int:
    """The most elements one worker can hold un-delivered under ``DYNAMIC``: the batch it is filling, a finished
    batch waiting in its task's buffer, the one on the wire to the client, and one element per parallel map call
    (AUTOTUNE: at most the cores it sees). What a killed worker's death may cost an epoch: its splits go with it."""
    return 3 * CLIENT_BATCH + cores


@dataclass(frozen=True)
class Scenario:
    """One fault and the promise it is held to.

    Attributes:
        name: its id (``dynamic-worker-killed``).
        sharding: ``off`` or ``dynamic``.
        fault: ``none``, ``worker`` (worker1 is killed) or ``dispatcher``.
        restart: the killed server is started again at once.
        fault_tolerant: the dispatcher journals its state (``fault_tolerant_mode`` and a ``work_dir``).
        promise: the documented behaviour, in words.
    """

    name: str
    sharding: str
    fault: str
    restart: bool
    fault_tolerant: bool
    promise: str

    def holds(self, outcome: Outcome) -> bool:
        """Whether ``outcome`` is what the documentation promises for this scenario."""
        if self.fault == "dispatcher" and not self.fault_tolerant:  # the jobs are lost: no clean epoch
            return not (outcome.finished and outcome.duplicates == 0 and outcome.missing == 0)
        if not outcome.finished:
            return False
        if self.sharding == "off":
            return outcome.missing == 0 and (self.fault != "none" or outcome.seen == WORKERS * outcome.images)
        if self.fault == "none":
            return outcome.duplicates == 0 and outcome.missing == 0
        return outcome.duplicates == 0


SCENARIOS: tuple[Scenario, ...] = (
    Scenario("dynamic-no-fault", "dynamic", "none", False, False, "every element exactly once"),
    Scenario("dynamic-worker-killed", "dynamic", "worker", False, False,
             "at most once: none repeated, some may be missed"),
    Scenario("dynamic-worker-restarted", "dynamic", "worker", True, False,
             "at most once: none repeated, some may be missed"),
    Scenario("off-no-fault", "off", "none", False, False, "each worker produces the whole dataset: every element "
             "once per worker"),
    Scenario("off-worker-killed", "off", "worker", False, False,
             "the live worker produces the whole dataset: none missed"),
    Scenario("off-worker-restarted", "off", "worker", True, False,
             "a restarted worker begins again: none missed, some repeated"),
    Scenario("dispatcher-restarted", "dynamic", "dispatcher", True, False,
             "state in memory: a restart loses the job (no clean epoch)"),
    Scenario("dispatcher-restarted-fault-tolerant", "dynamic", "dispatcher", True, True,
             "journaled state: no state lost, the epoch finishes at most once"),
)
SCENARIO_NAMES = tuple(s.name for s in SCENARIOS)


@dataclass
class Outcome:
    """What one scenario's epoch did (``faults.json``'s record, with the scenario's name and sharding)."""

    name: str
    sharding: str
    finished: bool
    duplicates: int
    missing: int
    stall_s: float
    as_documented: bool
    images: int
    seen: int
    hung: bool
    error: str | None
    promise: str

    def line(self) -> str:
        state = "finished" if self.finished else ("HUNG" if self.hung else "failed")
        verdict = "yes" if self.as_documented else "NO"
        return (f"{self.name:36} {state:8} {self.duplicates:6} {self.missing:7} {self.stall_s:7.1f}  {verdict:4} "
                f"{self.promise}" + (f" [{self.error}]" if self.error else ""))


HEADER = f"{'scenario':36} {'epoch':8} {'dupes':>6} {'missing':>7} {'stall s':>7}  {'as documented':4}"


def run_scenario(scenario: Scenario, root: Path, images: int, worker_cpus: float | None,
                 worker_timeout_s: float, wait_s: float) -> Outcome:
    """One epoch of ``scenario`` on a fresh cluster; the client is killed after ``wait_s`` without progress."""
    cluster = EmulatedCluster(WORKERS, worker_cpus=worker_cpus, fault_tolerant=scenario.fault_tolerant,
                              worker_timeout_s=worker_timeout_s)
    with cluster as address:
        def inject() -> None:
            role = "worker1" if scenario.fault == "worker" else "dispatcher"
            cluster.kill(role)
            if scenario.restart:
                cluster.restart(role)

        client = Child("client", ["--root", str(root), "--service", address, "--sharding", scenario.sharding])
        try:
            client.start()
            result, last_seen, silent_s = watch(client, inject if scenario.fault != "none" else None,
                                                round(KILL_AT * images), wait_s, images)
        finally:
            client.close()
    return outcome_of(scenario, result, last_seen, images, silent_s)


def watch(client: Child, inject: Callable[[], None] | None, inject_at: int, wait_s: float,
          images: int) -> tuple[dict[str, Any] | None, tuple[int, int], float]:
    """Follow the client's ``seen`` lines, calling ``inject`` once it has seen ``inject_at`` distinct elements;
    returns its result (``None`` if ``wait_s`` passed without a line: hung; an error if it died), the last
    counts, and how long it had been silent."""
    last_seen, last_time = (0, 0), time.monotonic()
    while True:
        line = client.line(max(0.0, last_time + wait_s - time.monotonic()))
        if line is None and client.process.poll() is not None:  # it died: a failure, not a hang
            seen, distinct = last_seen
            return ({"images": images, "seen": seen, "distinct": distinct, "longest_gap_s": 0.0,
                     "error": f"the client exited: {client.stderr_tail()}"}, last_seen, 0.0)
        if line is None:
            return None, last_seen, time.monotonic() - last_time
        kind, _, rest = line.partition(" ")
        if kind == "result":
            return json.loads(rest), last_seen, 0.0
        if kind == "seen":
            seen, distinct = (int(word) for word in rest.split())
            last_seen, last_time = (seen, distinct), time.monotonic()
            if inject is not None and distinct >= inject_at:
                inject()
                inject, last_time = None, time.monotonic()  # the restart's wait is not the epoch's silence


def outcome_of(scenario: Scenario, result: dict[str, Any] | None, last_seen: tuple[int, int], images: int,
               silent_s: float) -> Outcome:
    """The scenario's :class:`Outcome` from the client's ``result`` (``None``: it hung and was killed)."""
    if result is None:
        seen, distinct = last_seen
        outcome = Outcome(scenario.name, scenario.sharding, False, seen - distinct, images - distinct,
                          round(silent_s, 2), False, images, seen, True, None, scenario.promise)
    else:
        outcome = Outcome(scenario.name, scenario.sharding, result["error"] is None,
                          result["seen"] - result["distinct"], result["images"] - result["distinct"],
                          round(result["longest_gap_s"], 2), False, result["images"], result["seen"], False,
                          result["error"], scenario.promise)
    outcome.as_documented = scenario.holds(outcome)
    return outcome


def record(outcomes: list[Outcome], settings: dict[str, Any]) -> dict[str, Any]:
    """``faults.json``: the settings and one record per scenario."""
    return {"settings": settings, "scenarios": [asdict(o) for o in outcomes]}


