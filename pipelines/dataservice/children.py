"""The two child processes of the cluster commands, and the parent's side of talking to them.

* ``local``: the folder loader (``tf.data``, no cache) timed in rounds in this process -- the parent puts it in
  a worker's CPU quota first -- so that a service worker's rate is read beside the same pipeline run locally
  on the same CPU time (:mod:`~pipelines.dataservice.scale`).
* ``client``: one epoch of indexed elements read from a tf.data service, each element counted by its index, in
  a process of its own so that an epoch a fault left hanging is ended by killing it, not waited on for ever
  (:mod:`~pipelines.dataservice.faults`).

Both print ``ready`` once TensorFlow is imported, wait for ``go`` on stdin (the parent has placed them by
then), report as they go, end with one ``result {json}`` line, and exit when their parent dies.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from pipelines.cleanup.children import LineReader, child_environment, exit_with_parent, module_command
from pipelines.dataservice.worker import PARENT_ENV, PARENT_POLL_S
from pipelines.harness.plan import MIN_ROUND_S, ROUNDS, RoundPlan
from pipelines.options import Option, add_options, command_parser
from pipelines.quiet_start import import_tensorflow
from pipelines.values import existing_folder

ROOT = Option("--root", "the dataset folder", parse=existing_folder, metavar="FOLDER", required=True)
SERVICE = Option("--service", "the dispatcher's grpc://HOST:PORT", metavar="ADDRESS", required=True)
SHARDING = Option("--sharding", "the service's sharding policy", choices=("off", "dynamic"), default="dynamic")
#: Images a worker batches before it sends them to the client in the fault scenarios.
CLIENT_BATCH = 8


class Child:
    """A child of this module: started, then ``go``; its report lines read with a deadline."""

    def __init__(self, role: str, args: Sequence[str]) -> None:
        self.role = role
        env = child_environment({PARENT_ENV: str(os.getpid())})
        self.stderr = tempfile.TemporaryFile()  # a file, not a pipe: a full pipe would stall the child
        self.process = subprocess.Popen(module_command("pipelines.dataservice.children", [role, *args]),
                                        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.stderr,
                                        env=env, start_new_session=True)
        self.reader = LineReader(self.process.stdout)

    def line(self, timeout_s: float) -> str | None:
        """The next line, or ``None`` when none came within ``timeout_s`` or the child has exited (then reaped)."""
        line = self.reader.line(timeout_s)
        if line is None and self.reader.closed:
            try:
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                pass
        return line

    def start(self, timeout_s: float = 120.0, place: Callable[[int], None] | None = None) -> None:
        """Wait for ``ready``, ``place`` the child (its pid: into a cgroup), then say ``go``."""
        if self.line(timeout_s) != "ready":
            raise RuntimeError(f"a {self.role} child did not start: {self.stderr_tail()}")
        if place is not None:
            place(self.process.pid)
        self.process.stdin.write(b"go\n")
        self.process.stdin.flush()

    def stderr_tail(self) -> str:
        """The last lines the child wrote to stderr, on one line (it is ended first)."""
        self.kill()
        self.stderr.seek(0)
        text = self.stderr.read().decode(errors="replace").strip().splitlines()
        return " / ".join(line for line in text[-3:]) or f"exit {self.process.returncode}"

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait()

    def close(self) -> None:
        """End the child (if still running) and close what talks to it."""
        self.kill()
        self.reader.close()
        for stream in (self.process.stdin, self.process.stdout, self.stderr):
            stream.close()


def report(kind: str, payload: Any = "") -> None:
    """One line to the parent: ``kind`` and its payload (JSON unless text)."""
    text = payload if isinstance(payload, str) else json.dumps(payload)
    sys.stdout.write(f"{kind} {text}".rstrip() + "\n")
    sys.stdout.flush()


def _wait_for_go() -> None:
    report("ready")
    if sys.stdin.readline().strip() != "go":
        sys.exit(0)


def local_rounds(root: Path, plan: RoundPlan) -> dict[str, Any]:
    """``plan``'s rounds of the folder loader over ``root`` (no cache, the contract's defaults)."""
    from pipelines.datasets import index_dataset
    from pipelines.epoch.run import run_epoch
    from pipelines.harness.rounds import OffRecordBenchmark, time_rounds
    from pipelines.loaders import open_pipeline
    from pipelines.loaders.contract import Contract

    index = index_dataset(root)
    with open_pipeline("tfdata", index, Contract()) as pipeline:
        run_epoch(pipeline)  # the first epoch: tracing, files into the page cache
        timed = time_rounds(OffRecordBenchmark(), lambda: run_epoch(pipeline), plan)
    return {"images": timed.images, "round_seconds": timed.round_seconds}


def indexed_epoch(root: Path, service: str, sharding: str) -> Any:
    """One epoch of ``(index, image)`` batches from the service: every image of ``root`` carries its position."""
    import tensorflow as tf

    from pipelines.datasets import index_dataset
    from pipelines.loaders.contract import Contract
    from pipelines.loaders.tfops import decode_resized

    index = index_dataset(root)
    contract = Contract()
    paths = tf.constant([str(p) for p in index.paths])
    elements = tf.data.Dataset.from_tensor_slices((tf.range(index.images, dtype=tf.int64), paths))
    batches = (elements.map(lambda i, path: (i, decode_resized(path, contract)), num_parallel_calls=tf.data.AUTOTUNE)
               .batch(CLIENT_BATCH))
    policy = tf.data.experimental.service.ShardingPolicy.DYNAMIC if sharding == "dynamic" \
        else tf.data.experimental.service.ShardingPolicy.OFF
    return index.images, batches.apply(tf.data.experimental.service.distribute(
        processing_mode=policy, service=service, job_name=None))


def read_counted(root: Path, service: str, sharding: str) -> dict[str, Any]:
    """Read one epoch, reporting ``seen N DISTINCT`` after every batch; the counts per index at the end."""
    images, dataset = indexed_epoch(root, service, sharding)
    counts = [0] * images
    seen = distinct = 0
    gaps: list[float] = []
    error = None
    last = None
    try:
        for indices, pixels in dataset:
            now = time.monotonic()
            if last is not None:
                gaps.append(now - last)
            last = now
            for i in indices.numpy().tolist():
                distinct += counts[i] == 0
                counts[i] += 1
                seen += 1
            report("seen", f"{seen} {distinct}")
    except Exception as failure:  # the fault's consequence, reported, not raised
        text = re.sub(r"\{\{[^}]*\}\}|\[Op:[^\]]*\]?|\s*name:\s*$", "", str(failure).strip()).strip().splitlines()[0]
        error = f"{type(failure).__name__}: {text[:200]}"
    return {"images": images, "seen": seen, "distinct": distinct, "longest_gap_s": max(gaps, default=0.0),
            "error": error}


def main(argv: Sequence[str] | None = None) -> int:
    parser = command_parser("python -m pipelines.dataservice.children", __doc__)
    roles = parser.add_subparsers(dest="role", required=True)
    add_options(roles.add_parser("local").add_argument, ROOT, ROUNDS, MIN_ROUND_S)
    add_options(roles.add_parser("client").add_argument, ROOT, SERVICE, SHARDING)
    args = parser.parse_args(argv)
    parent = os.environ.get(PARENT_ENV)
    if parent:
        exit_with_parent(int(parent), poll_s=PARENT_POLL_S)
    import_tensorflow()  # before "ready": the start-up is not what the parent times

    _wait_for_go()
    run: Callable[[], dict[str, Any]]
    if args.role == "local":
        run = lambda: local_rounds(args.root, RoundPlan(args.rounds, args.min_round_s))  # noqa: E731
    else:
        run = lambda: read_counted(args.root, args.service, args.sharding)  # noqa: E731
    report("result", run())
    return 0


if __name__ == "__main__":
    sys.exit(main())
