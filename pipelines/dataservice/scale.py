"""How many workers an accelerator needs: the suite's tf.data service pipeline timed at 1, 2, ... N workers, each
on an emulated host of ``worker_cpus`` cores (:mod:`~pipelines.dataservice.cluster`), beside the same folder
pipeline run locally within one such quota.

At each count the service loader (:mod:`pipelines.loaders.tfdata_service`) runs the suite's rounds (a warm-up
epoch, then :class:`~pipelines.harness.plan.RoundPlan`'s timed rounds; median, ± half their range) on a fresh
cluster, and what each resource used over those rounds is read: the workers' CPU time against their quota,
the dispatcher's, each host link's bytes against its rate, the trainer process's CPU, and the whole machine's.
The one nearest its limit is the point's ``saturated`` resource. On one machine the hosts share its cores:
where ``machine`` saturates first, the curve is this machine's, not a cluster's (real hosts bring their own).

The answer to ``--accelerator N`` is read from the points by :mod:`~pipelines.dataservice.curve`.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil

from pipelines.dataservice.children import Child
from pipelines.dataservice.cluster import EmulatedCluster
from pipelines.datasets import DatasetIndex
from pipelines.harness.plan import RoundPlan
from pipelines.limits.cgroup import Limits
from pipelines.machine import available_cores
from pipelines.dataservice.curve import Point, Usage, needed_line
from pipelines.units import relative_spread

class _Meter:
    """CPU times, link bytes and the clock, read before and after a point's rounds."""

    def __init__(self, cluster: EmulatedCluster) -> None:
        self.cluster = cluster
        self.roles = EmulatedCluster.worker_roles(cluster.workers)
        self.start = self._read()

    def _read(self) -> dict[str, Any]:
        cluster = self.cluster
        me, machine = psutil.Process().cpu_times(), psutil.cpu_times()
        links = {host.link: _link_bytes(host.link) for host in cluster.network.hosts} if cluster.network else {}
        return {"wall": time.monotonic(), "workers": sum(cluster.cpu_seconds(r) for r in self.roles),
                "dispatcher": cluster.cpu_seconds("dispatcher"), "trainer": me.user + me.system,
                "busy": machine.user + machine.system + getattr(machine, "softirq", 0) + getattr(machine, "irq", 0)
                + getattr(machine, "nice", 0), "links": links}

    def stop(self) -> Usage:
        end, start, cluster = self._read(), self.start, self.cluster
        wall = end["wall"] - start["wall"]
        cores = available_cores()
        quota = cluster.worker_cpus * cluster.workers if cluster.worker_cpus else None
        link = None
        if cluster.link_rate_bps:
            moved = max(end["links"][k] - start["links"][k] for k in end["links"])
            link = moved * 8 / wall / cluster.link_rate_bps
        left_for_trainer = max(cores - (quota or 0), 1e-9)
        return Usage(workers=(end["workers"] - start["workers"]) / wall / quota if quota else None,
                     dispatcher=(end["dispatcher"] - start["dispatcher"]) / wall,
                     link=link, trainer=(end["trainer"] - start["trainer"]) / wall / left_for_trainer,
                     machine=(end["busy"] - start["busy"]) / wall / psutil.cpu_count())


def _link_bytes(link: str) -> int:
    stats = Path("/sys/class/net", link, "statistics")
    return sum(int((stats / name).read_text()) for name in ("rx_bytes", "tx_bytes"))


def measure_point(index: DatasetIndex, workers: int, worker_cpus: float | None, link_rate_bps: int | None,
                  link_delay_s: float | None, plan: RoundPlan) -> Point:
    """The service loader's rounds on a fresh cluster of ``workers`` worker hosts."""
    from pipelines.epoch.run import run_epoch
    from pipelines.harness.rounds import OffRecordBenchmark, time_rounds
    from pipelines.loaders import open_pipeline
    from pipelines.loaders.contract import Contract

    cluster = EmulatedCluster(workers, worker_cpus, link_rate_bps, link_delay_s)
    with cluster as address:
        with open_pipeline("tfdata-service", index, Contract(service_address=address)) as pipeline:
            _whole(run_epoch(pipeline).images, index, workers)  # warm-up: tracing, the page cache
            meter = _Meter(cluster)
            timed = time_rounds(OffRecordBenchmark(), lambda: run_epoch(pipeline), plan)
            usage = meter.stop()
    _whole(timed.images, index, workers)
    return Point(workers, timed.images_per_sec(), timed.spread(), usage)


def _whole(images: int, index: DatasetIndex, workers: int) -> None:
    if images != index.images:
        raise RuntimeError(f"an epoch on {workers} worker host(s) saw {images} of {index.images} images")


def local_rate(index: DatasetIndex, worker_cpus: float | None, plan: RoundPlan) -> tuple[float, float]:
    """The folder loader's images/s (and spread) in a child within one worker's CPU quota (no quota: none)."""
    import json

    from pipelines.limits.make import make_cgroup

    child = Child("local", ["--root", str(index.root), "--rounds", str(plan.rounds),
                            "--min-round-s", f"{plan.min_round_s:g}"])
    cgroup = make_cgroup(Limits(cpus=worker_cpus)) if worker_cpus else None
    try:
        child.start(place=cgroup.add if cgroup else None)
        line = child.line(3600.0)
        if line is None or not line.startswith("result "):
            raise RuntimeError(f"the local reference child failed: {child.stderr_tail()}")
    finally:
        child.close()
        if cgroup is not None:
            cgroup.remove()
    result = json.loads(line.partition(" ")[2])
    seconds = result["round_seconds"]
    return result["images"] / statistics.median(seconds), relative_spread(seconds)


@dataclass
class Curve:
    """``scale.json``: the points, the local reference, and the answer."""

    points: list[Point]
    local_images_per_sec: float
    local_spread: float
    worker_cpus: float | None
    accelerator: float | None = None
    needed: dict[str, Any] | None = None
    settings: dict[str, Any] = field(default_factory=dict)

    @property
    def workers_needed(self) -> int | None:
        return self.needed.get("workers") if self.needed else None

    def record(self) -> dict[str, Any]:
        return {"points": [p.record() for p in self.points],
                "local_images_per_sec": round(self.local_images_per_sec, 1),
                "local_spread": round(self.local_spread, 4), "worker_cpus": self.worker_cpus,
                "accelerator": self.accelerator, "workers_needed": self.workers_needed,
                "prediction": self.needed, "settings": self.settings}


def measure_curve(index: DatasetIndex, hosts: Sequence[int], worker_cpus: float | None, link_rate_bps: int | None,
                  link_delay_s: float | None, plan: RoundPlan,
                  progress: Callable[[str], None] = lambda line: None) -> Curve:
    """Every count of ``hosts``, then the local reference."""
    points = []
    for workers in hosts:
        point = measure_point(index, workers, worker_cpus, link_rate_bps, link_delay_s, plan)
        progress(f"{workers} worker(s): {point.images_per_sec:,.0f} img/s ±{point.spread:.0%} "
                 f"(bound by {point.saturated})")
        points.append(point)
    rate, spread = local_rate(index, worker_cpus, plan)
    progress(f"local, same quota: {rate:,.0f} img/s ±{spread:.0%}")
    return Curve(points, rate, spread, worker_cpus)


def table(curve: Curve) -> str:
    """The curve as a person reads it, with the answer below."""
    one = curve.points[0].per_worker if curve.points and curve.points[0].workers == 1 else None
    quota = f"{curve.worker_cpus:g} CPU" if curve.worker_cpus else "no quota"
    lines = [f"{'workers':>7} {'img/s':>14} {'per worker':>10} {'efficiency':>10}  saturated",
             *(f"{p.workers:>7} {p.images_per_sec:>8,.0f} ±{p.spread:>3.0%} {p.per_worker:>10,.0f} "
               f"{(f'{p.per_worker / one:.0%}' if one else '-'):>10}  {p.saturated}" for p in curve.points),
             f"local folder pipeline within one worker's quota ({quota}): {curve.local_images_per_sec:,.0f} img/s "
             f"±{curve.local_spread:.0%}",
             "efficiency: per-worker img/s against one worker's (linear scaling = 100%)"]
    if curve.accelerator is not None:
        lines.append(needed_line(curve.needed or {}, curve.accelerator))
    return "\n".join(lines)
