"""A memory cache the predictor says will not fit, run anyway in a child under the RAM limit (``--run-exceeding``),
and its outcome put beside the prediction: ``oom-killed at 15.9 GB, as predicted`` or ``survived: predicted
17.7 GB, peak 15.2 GB``.

The child (``python -m pipelines.limits.probe``) enters a fresh cgroup of its own before it imports TensorFlow,
volunteers as the OOM killer's first choice (``oom_score_adj`` 1000), and dies with its parent; it fills the
case's cache with one epoch and reads it back with a second, and writes both epochs' seconds. Its parent -- the
benchmark session or the study, which may share a limit of their own -- is never the one killed.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import psutil

from pipelines.caches.modes import CACHE
from pipelines.datasets.options import DATASET
from pipelines.limits.cgroup import Cgroup, Limits
from pipelines.limits.make import make_cgroup
from pipelines.loaders.contract import PLACEMENT
from pipelines.loaders.registry import LOADER
from pipelines.options import OUT, Option, add_options, command_parser
from pipelines.units import format_bytes

#: Run by the child's interpreter first: join the cgroup (``cgroup.procs`` of each folder), volunteer for the OOM
#: killer, then become the command -- so that nothing the command allocates is charged elsewhere.
_ENTER = """\
import os, sys
count = int(sys.argv[1])
for procs in sys.argv[2:2 + count]:
    with open(procs, "w") as f:
        f.write(str(os.getpid()))
with open("/proc/self/oom_score_adj", "w") as f:
    f.write(sys.argv[2 + count])
os.execvp(sys.argv[3 + count], sys.argv[3 + count:])
"""


def inside(cgroup: Cgroup, command: list[str], oom_score_adj: int = 1000) -> list[str]:
    """``command`` (a Python program) started inside ``cgroup``, killed first when memory runs out there, and
    killed when this process ends (:func:`pipelines.cleanup.children.dying_with_parent`)."""
    from pipelines.cleanup.children import dying_with_parent

    procs = [str(folder / "cgroup.procs") for folder in cgroup.folders]
    return [sys.executable, "-c", _ENTER, str(len(procs)), *procs, str(oom_score_adj), *dying_with_parent(command)]


@dataclass(frozen=True)
class Outcome:
    """What a memory cache did under a RAM limit, beside what the predictor said.

    Attributes:
        case: the case id (``tfdata-memory-float32``).
        images: images cached.
        predicted_bytes: the cache's predicted size; ``needed_bytes``: with the margin and working set.
        limit_bytes: the RAM it had: the limit, less what the run that started it held under that limit.
        baseline_bytes: what the child held (RSS) with TensorFlow loaded and the pipeline built, before filling:
            the rest of the limit is what the cache had (``None`` if it was killed before it could say).
        killed: OOM-killed.
        peak_bytes: the most memory charged to it at once (``None`` where the kernel does not say).
        seconds: the filling epoch's and a later epoch's seconds when it survived.
    """

    case: str
    images: int
    predicted_bytes: int
    needed_bytes: int
    limit_bytes: int
    killed: bool
    peak_bytes: int | None
    baseline_bytes: int | None = None
    seconds: tuple[float, ...] = ()

    @property
    def predicted_to_fit(self) -> bool:
        return self.needed_bytes + (self.baseline_bytes or 0) <= self.limit_bytes

    @property
    def as_predicted(self) -> bool:
        return self.killed != self.predicted_to_fit

    def line(self) -> str:
        peak = format_bytes(self.peak_bytes) if self.peak_bytes is not None else "an unknown peak"
        base = f" + {format_bytes(self.baseline_bytes)} held before filling" if self.baseline_bytes else ""
        said = (f"predicted {format_bytes(self.predicted_bytes)} (needs {format_bytes(self.needed_bytes)}{base}) "
                f"{'<=' if self.predicted_to_fit else '>'} {format_bytes(self.limit_bytes)} left under the limit")
        if self.killed:
            return f"oom-killed at {peak}, {'as predicted' if self.as_predicted else 'not as predicted'}: {said}"
        epochs = " / ".join(f"{s:.1f} s" for s in self.seconds)
        return (f"survived, {'as predicted' if self.as_predicted else 'not as predicted'}: {said}, peak {peak}"
                + (f"; fill / later epoch {epochs}" if epochs else ""))


def probe_cache(loader: str, cache: str, placement: str, dataset: Path, contract_fields: dict,
                predicted_bytes: int, needed_bytes: int, images: int, limits: Limits,
                room_bytes: int | None = None, timeout_s: float | None = None) -> Outcome:
    """Fill ``loader``'s ``cache`` (``placement``) over ``dataset`` in a child of a new cgroup enforcing
    ``limits``; the outcome beside the prediction, judged against ``room_bytes`` (what the limit leaves the
    child: less than the limit where this process runs under the same one) or else the RAM limit.
    A child that fails for any other reason raises :class:`RuntimeError` with its last lines."""
    from pipelines.cleanup.children import child_environment, module_command
    from pipelines.cleanup.scratch import scratch_folder

    if limits.memory_bytes is None:
        raise ValueError("a cache is run exceeding a RAM limit: none was given")
    limit_bytes = min(room_bytes or limits.memory_bytes, limits.memory_bytes)
    cgroup = make_cgroup(limits)
    case = f"{loader}-{cache}-{placement}"
    try:
        with scratch_folder("probe") as folder:
            out = folder / "probe.json"
            args = [LOADER.flag, loader, CACHE.flag, cache, PLACEMENT.flag, placement, DATASET.flag, str(dataset),
                    CONTRACT.flag, json.dumps(contract_fields, default=str), OUT.flag, str(out)]
            done = subprocess.run(inside(cgroup, module_command("pipelines.limits.probe", args)),
                                  env=child_environment(), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                  stderr=subprocess.PIPE, text=True, timeout=timeout_s)
            killed = done.returncode in (-9, 137) and cgroup.oom_kills() > 0
            if done.returncode != 0 and not killed:
                tail = "\n".join(done.stderr.strip().splitlines()[-5:])
                raise RuntimeError(f"{case} under a {format_bytes(limit_bytes)} limit failed "
                                   f"({done.returncode}):\n{tail}")
            said = json.loads(out.read_text()) if out.exists() else {}
            return Outcome(case, images, predicted_bytes, needed_bytes, limit_bytes, killed, cgroup.peak_bytes(),
                           said.get("baseline_bytes"), () if killed else tuple(said["seconds"]))
    finally:
        cgroup.remove()


def contract_json(text: str) -> dict:
    """``--contract``: the base contract's fields as a JSON object (:func:`contract_fields`)."""
    try:
        fields = json.loads(text)
    except ValueError:
        fields = None
    if not isinstance(fields, dict):
        raise ValueError(f"the contract's fields as a JSON object, e.g. {{\"batch_size\": 32}}, got {text!r}")
    return fields


CONTRACT = Option("--contract", "the base contract's fields, as a JSON object", parse=contract_json, metavar="JSON",
                  required=True)


def contract_fields(contract) -> dict:
    """A contract's fields as the child reads them back (``--contract``)."""
    return {k: v for k, v in asdict(contract).items() if v is not None}


def main(argv: list[str] | None = None) -> int:
    """The child: one epoch filling the cache, one reading it back."""
    parser = command_parser("python -m pipelines.limits.probe", __doc__)
    add_options(parser.add_argument, *(replace(option, required=True, default=None, default_text="")
                                       for option in (LOADER, CACHE, PLACEMENT, DATASET)), CONTRACT,
                replace(OUT, help="the JSON file the child's baseline and epochs are written to", metavar="FILE",
                        required=True))
    args = parser.parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

    from pipelines.datasets.validate import index_dataset
    from pipelines.epoch.run import run_epoch
    from pipelines.loaders import open_pipeline
    from pipelines.loaders.contract import Contract

    fields = args.contract
    fields["image_size"] = tuple(fields["image_size"])
    if "cache_dir" in fields:
        fields["cache_dir"] = Path(fields["cache_dir"])
    contract = Contract(**fields).with_(cache=args.cache, placement=args.placement)
    index = index_dataset(args.dataset)
    said: dict = {}
    with open_pipeline(args.loader, index, contract) as pipeline:
        held = psutil.Process().memory_info()  # private memory: shared pages (libraries) are charged elsewhere
        said["baseline_bytes"] = held.rss - held.shared
        args.out.write_text(json.dumps(said))  # said before filling: a killed child's baseline is known too
        said["seconds"] = []
        for _ in range(2):
            start = time.perf_counter()
            run_epoch(pipeline)
            said["seconds"].append(time.perf_counter() - start)
    args.out.write_text(json.dumps(said))
    return 0


if __name__ == "__main__":
    sys.exit(main())
