"""How many workers an accelerator needs: the suite's tf.data service pipeline timed at 1, 2, ... N workers, each
on an emulated host of ``worker_cpus`` cores (:mod:`~pipelines.dataservice.cluster`), beside the same folder
pipeline run locally within one such quota.

At each count the service loader (:mod:`pipelines.loaders.tfdata_service`) runs the suite's rounds (a warm-up
epoch, then :class:`~pipelines.harness.plan.RoundPlan`'s timed rounds; median, ± half their range) on a fresh
cluster, and what each resource used over those rounds is read: the workers' CPU time against their quota,
the dispatcher's, each host link's bytes against its rate, the trainer process's CPU, and the whole machine's.
The one nearest its limit is the point's ``saturated`` resource. On one machine the hosts share its cores:
where ``machine`` saturates first, the curve is this machine's, not a cluster's (real hosts bring their own).

The answer to ``--accelerator N``: where a measured count reaches ``N``, between the measured points; past
them, along the images/s an added worker brings (the least-squares slope through the points, so a curve that
bends shows in it), with an interval from the lowest to the highest slope between any two points and their
spreads. It is checked by predicting the measured count nearest the answer from the other points alone and
setting that prediction, with its interval, beside what was measured there (``holds`` or ``MISSED``). Where
the trainer (not the workers) capped the top of the curve below ``N``, or the curve stops rising, no count
reaches it: ``None``, with the reason.
"""

from __future__ import annotations

import math
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import psutil

from pipelines.dataservice.children import Child
from pipelines.dataservice.cluster import EmulatedCluster
from pipelines.datasets import DatasetIndex
from pipelines.harness.plan import RoundPlan
from pipelines.limits.cgroup import Limits
from pipelines.machine import available_cores
from pipelines.units import relative_spread

#: A resource this close to its limit over the rounds is the one the point is bound by.
SATURATED_AT = 0.8


@dataclass
class Usage:
    """What each resource used over a point's rounds, as a share of its limit (``None``: it has none)."""

    workers: float | None
    dispatcher: float
    link: float | None
    trainer: float
    machine: float

    def saturated(self) -> str:
        """The resource nearest its limit, or ``none near its limit``."""
        shares = {name: value for name, value in asdict(self).items() if value is not None}
        name = max(shares, key=shares.get)
        return name if shares[name] >= SATURATED_AT else "none near its limit"


@dataclass
class Point:
    """One worker count's rate.

    Attributes:
        workers: worker hosts.
        images_per_sec: median over the rounds.
        spread: half the rounds' range over their median.
        usage: what each resource used, as a share of its limit.
    """

    workers: int
    images_per_sec: float
    spread: float
    usage: Usage

    @property
    def per_worker(self) -> float:
        return self.images_per_sec / self.workers

    @property
    def saturated(self) -> str:
        return self.usage.saturated()

    def record(self) -> dict[str, Any]:
        return {"workers": self.workers, "images_per_sec": round(self.images_per_sec, 1),
                "spread": round(self.spread, 4), "saturated": self.saturated,
                "usage": {k: None if v is None else round(v, 3) for k, v in asdict(self.usage).items()}}


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


def workers_needed(points: Sequence[Point], target: float) -> dict[str, Any]:
    """Worker hosts needed to feed ``target`` images/s (see the module docstring), with its interval and check."""
    top = max(points, key=lambda p: p.images_per_sec)
    if top.saturated == "trainer" and target > top.images_per_sec * (1 + top.spread):
        return {"workers": None, "reason": f"the trainer's own process is the limit at {top.images_per_sec:.0f} "
                f"img/s ({top.workers} workers): more workers cannot feed {target:g} img/s"}
    low_slope, slope, high_slope = _slopes(points)
    estimate = _reach(points, target, slope)
    if estimate is None:
        return {"workers": None, "reason": f"the curve stops growing at {top.images_per_sec:.0f} img/s "
                f"({top.workers} workers, bound by {top.saturated})"}
    nearest = min(points, key=lambda p: (abs(p.workers - estimate), -p.workers))
    others = [p for p in points if p is not nearest]
    pessimistic = _reach(points, target, low_slope)
    needed: dict[str, Any] = {
        "workers": math.ceil(estimate), "low": math.ceil(_reach(points, target, high_slope) or estimate),
        "high": math.ceil(pessimistic) if pessimistic is not None else None,
        "images_per_sec_per_added_worker": round(slope, 1),
        "extrapolated": estimate > max(p.workers for p in points), "check": None}
    if others:
        low, mid, high = (_rate_at(others, nearest.workers, s) for s in _slopes(others))
        needed["check"] = {"workers": nearest.workers, "predicted_images_per_sec": round(mid, 1),
                           "low": round(low, 1), "high": round(high, 1),
                           "measured_images_per_sec": round(nearest.images_per_sec, 1),
                           "from_points": [p.workers for p in others],
                           "holds": low <= nearest.images_per_sec <= high}
    return needed


def _slopes(points: Sequence[Point]) -> tuple[float, float, float]:
    """Images/s an added worker brings: the least-squares slope through the points, and the lowest and highest
    slope between any two of them with their spreads (one point: a line through the origin)."""
    if len(points) == 1:
        p = points[0]
        return p.per_worker * (1 - p.spread), p.per_worker, p.per_worker * (1 + p.spread)
    ws, rs = [p.workers for p in points], [p.images_per_sec for p in points]
    mean_w, mean_r = statistics.fmean(ws), statistics.fmean(rs)
    slope = sum((w - mean_w) * (r - mean_r) for w, r in zip(ws, rs)) / sum((w - mean_w) ** 2 for w in ws)
    pairs = [(a, b) for a in points for b in points if a.workers < b.workers]
    low = min((b.images_per_sec * (1 - b.spread) - a.images_per_sec * (1 + a.spread)) / (b.workers - a.workers)
              for a, b in pairs)
    high = max((b.images_per_sec * (1 + b.spread) - a.images_per_sec * (1 - a.spread)) / (b.workers - a.workers)
               for a, b in pairs)
    return min(low, slope), slope, max(high, slope)


def _rate_at(points: Sequence[Point], workers: int, slope: float) -> float:
    """The rate at ``workers`` on a line of ``slope`` through the nearest of ``points``."""
    anchor = min(points, key=lambda p: abs(p.workers - workers))
    return anchor.images_per_sec + (workers - anchor.workers) * slope


def _reach(points: Sequence[Point], target: float, slope: float) -> float | None:
    """Workers at which the curve reaches ``target``: between measured points where it does there (from the
    origin below the first), else on a line of ``slope`` past the last; ``None`` where that line does not rise."""
    previous = (0, 0.0)
    for p in sorted(points, key=lambda p: p.workers):
        if p.images_per_sec >= target:
            w0, r0 = previous
            return w0 + (target - r0) * (p.workers - w0) / (p.images_per_sec - r0)
        previous = (p.workers, p.images_per_sec)
    if slope <= 0:
        return None
    return previous[0] + (target - previous[1]) / slope


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


def needed_line(needed: dict[str, Any], target: float) -> str:
    """The answer in one line (its check on a second): the count, its interval."""
    if needed.get("workers") is None:
        return f"workers needed for {target:,.0f} img/s: none reaches it -- {needed.get('reason', '')}"
    high = needed["high"] if needed["high"] is not None else "unbounded: the slowest slope does not rise"
    line = (f"workers needed for {target:,.0f} img/s: {needed['workers']} ({needed['low']}-{high}), each added "
            f"worker bringing {needed['images_per_sec_per_added_worker']:,.0f} img/s"
            + (" (extrapolated past the measured counts)" if needed["extrapolated"] else ""))
    check = needed.get("check")
    if check:
        line += (f"\ncheck: {check['workers']} workers predicted from {check['from_points']}: "
                 f"{check['predicted_images_per_sec']:,.0f} img/s ({check['low']:,.0f}-{check['high']:,.0f}), "
                 f"measured {check['measured_images_per_sec']:,.0f}: {'holds' if check['holds'] else 'MISSED'}")
    return line
