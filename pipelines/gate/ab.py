"""A/B: run a baseline and a candidate alternately on one machine, and judge every case with the gate.

Two runs saved hours apart differ by the machine's drift as well as by the change; run back to back and
alternated (A B B A A B ...), both sides see the same machine, as duet benchmarking and interleaved
benchmarking arrange. Each side is a git revision (checked out in a temporary worktree, removed afterwards),
a Python environment, environment variables, or a mix; every run is the gate's benchmark selection
(:data:`~pipelines.gate.settings.GATE_PYTEST_ARGS`) with its rounds paired with the reference, and each side's runs
are pooled per case before :func:`pipelines.gate.judge.compare_runs` judges them.

Killed outright (``kill -9``), the command takes its running benchmark run with it (Linux); the worktree and
the runs' folder it leaves (``loaderbench-ab-*`` scratch folders, :mod:`pipelines.cleanup.scratch`) are swept by the
next A/B run, which also unregisters that worktree from git and says so.

    python -m pipelines.gate.ab --base-rev main                 # the working tree against main
    python -m pipelines.gate.ab --head-env LOADERBENCH_REGRESSION=tfdata=0.3   # rehearse: a seeded regression
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from tqdm import tqdm

from pipelines.cleanup.children import dying_with_parent
from pipelines.gate.settings import GATE_PYTEST_ARGS, GateSettings
from pipelines.gate.judge import compare_runs, format_result, gate_settings_parser, settings_from_args
from pipelines.gate.runs import GateError, load_run, pooled
from pipelines.cleanup.scratch import PREFIX, scratch_folder

#: The scratch folders' kind: ``loaderbench-ab-*`` holds a revision's worktree (in ``tree``).
_WORKTREE = "ab"


@dataclass(frozen=True)
class Side:
    """One side of the comparison: where its code is, which Python runs it, with which variables."""

    name: str
    tree: Path
    python: str
    env: dict[str, str] = field(default_factory=dict)

    def command(self, json_path: Path, pytest_args: Sequence[str]) -> list[str]:
        return [self.python, "-m", "pytest", "benchmarks", "-p", "no:cacheprovider", "-q", *GATE_PYTEST_ARGS,
                f"--benchmark-json={json_path}", *pytest_args]

    def check(self) -> None:
        if not (self.tree / "benchmarks").is_dir():
            raise GateError(f"the {self.name} side's tree {self.tree} has no benchmarks/ folder: run this command "
                            "from the suite's checkout")

    def run(self, json_path: Path, pytest_args: Sequence[str]) -> None:
        env = {**os.environ, "PYTHONPATH": str(self.tree), **self.env}
        # Killed with this process: a benchmark run left going would keep timing, and writing into a worktree
        # the next A/B run sweeps.
        done = subprocess.run(dying_with_parent(self.command(json_path, pytest_args)), cwd=self.tree, env=env,
                              capture_output=True, text=True)
        if done.returncode != 0 or not json_path.is_file():
            raise GateError(f"the {self.name} run failed (exit {done.returncode}) in {self.tree}:\n"
                            f"{(done.stdout + done.stderr)[-3000:]}")


def order(pairs: int) -> list[int]:
    """Which side runs when (0 = base, 1 = head): A B, B A, A B ... so neither side always goes first."""
    return [side for i in range(pairs) for side in ((0, 1) if i % 2 == 0 else (1, 0))]


@contextmanager
def worktree(revision: str, repository: Path) -> Iterator[Path]:
    """``revision`` of ``repository`` checked out (detached) in a scratch folder of its own, removed afterwards
    whatever happens, and unregistered from git.

    The scratch folder first sweeps those of killed runs (a killed A/B run's worktree among them), whose
    registrations are then pruned. When ``git worktree remove`` fails, the scratch folder's removal takes the
    checkout anyway and its registration is pruned, so nothing is left either way.
    """
    failure = None
    try:
        with scratch_folder(_WORKTREE) as folder:
            pruned = _prune_missing(repository)
            if pruned:
                print(f"loaderbench: unregistered {len(pruned)} git worktree(s) of killed A/B runs: "
                      + ", ".join(str(p) for p in pruned), file=sys.stderr)
            checkout = folder / "tree"
            done = subprocess.run(["git", "worktree", "add", "--detach", str(checkout), revision], cwd=repository,
                                  capture_output=True, text=True)
            if done.returncode != 0:
                raise GateError(f"cannot check out {revision!r}: {done.stderr.strip()}")
            try:
                yield checkout
            finally:
                removal = subprocess.run(["git", "worktree", "remove", "--force", str(checkout)], cwd=repository,
                                         capture_output=True, text=True)
                if removal.returncode != 0:
                    failure = (checkout, removal.stderr.strip() or f"exit {removal.returncode}")
    finally:
        if failure is not None:  # the scratch folder's removal has taken the checkout: git's record of it goes too
            checkout, reason = failure
            pruned = _prune_missing(repository)
            done = (f"removed its folder{' and pruned its registration' if pruned else ''} instead"
                    if not checkout.exists() else f"its folder {checkout.parent} is left to the next run's sweep")
            print(f"loaderbench: git worktree remove {checkout} failed ({reason}); {done}", file=sys.stderr)


def _prune_missing(repository: Path) -> list[Path]:
    """``repository``'s worktrees that were in A/B scratch folders now gone (swept, or removed by hand), pruned
    from git's list (``git worktree prune``); the paths. The prune runs only when there is one: it would also
    forget a worktree of the user's whose folder is missing for a while (on a disk not mounted now)."""
    listed = subprocess.run(["git", "worktree", "list", "--porcelain"], cwd=repository, capture_output=True,
                            text=True)
    if listed.returncode != 0:
        return []  # not a git repository: the checkout that follows says so
    paths = [Path(line.split(" ", 1)[1]) for line in listed.stdout.splitlines() if line.startswith("worktree ")]
    missing = [p for p in paths if p.parent.name.startswith(f"{PREFIX}{_WORKTREE}-") and not p.exists()]
    if missing:
        subprocess.run(["git", "worktree", "prune"], cwd=repository, capture_output=True)
    return missing


def parse_env(pairs: Sequence[str]) -> dict[str, str]:
    env = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name:
            raise GateError(f"expected NAME=VALUE, got {pair!r}")
        env[name] = value
    return env


#: Both sides run on this machine in the same minutes, so a side on another TensorFlow or Python (an upgrade
#: under test, ``--base-python``) is the comparison asked for: the gate warns instead of refusing.
AB_GATE = GateSettings(mismatch="warn")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m pipelines.gate.ab", description=__doc__.split("\n\n")[0])
    for side in ("base", "head"):
        parser.add_argument(f"--{side}-rev", help=f"git revision for the {side} side (default: this working tree)")
        parser.add_argument(f"--{side}-python", default=sys.executable,
                            help=f"Python of the {side} side's environment (default: this one)")
        parser.add_argument(f"--{side}-env", action="append", default=[], metavar="NAME=VALUE",
                            help=f"environment variable for the {side} side's runs (repeatable)")
    parser.add_argument("--tree", type=Path, default=Path.cwd(),
                        help="the suite's checkout: the side without a revision, and the repository revisions come "
                             "from (default: the current folder)")
    parser.add_argument("--pairs", type=int, default=3, help="runs per side, alternated (default 3)")
    parser.add_argument("--out", type=Path, help="keep each run's JSON here (default: a temporary folder)")
    gate_settings_parser(parser, AB_GATE)
    parser.add_argument("pytest_args", nargs=argparse.REMAINDER,
                        help="after --: more pytest options for every run (e.g. -- --preset coco2017 --images 500)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Exit status: 0 no case regressed, 1 a case regressed, 2 the comparison could not be made, 6
    (:data:`~pipelines.gate.judge.INCONCLUSIVE_EXIT`) a case could not be judged: the machine was shared."""
    args = build_parser().parse_args(argv)
    pytest_args = [a for a in args.pytest_args if a != "--"]
    try:
        settings = settings_from_args(args)
        if args.pairs < 1:
            raise GateError(f"--pairs must be at least 1, got {args.pairs}")
        with ExitStack() as stack:
            sides = []
            for name in ("base", "head"):
                revision = getattr(args, f"{name}_rev")
                tree = stack.enter_context(worktree(revision, args.tree)) if revision else args.tree
                sides.append(Side(name, tree, getattr(args, f"{name}_python"),
                                  parse_env(getattr(args, f"{name}_env"))))
                sides[-1].check()
            out = args.out or stack.enter_context(scratch_folder("ab-runs"))
            out.mkdir(parents=True, exist_ok=True)
            runs: list[list] = [[], []]
            schedule = order(args.pairs)
            for step, which in enumerate(tqdm(schedule, desc="A/B runs", unit="run")):
                side = sides[which]
                path = out / f"{step:02d}-{side.name}.json"
                side.run(path, pytest_args)
                runs[which].append(load_run(path))
            base, head = pooled(runs[0], "base (pooled)"), pooled(runs[1], "head (pooled)")
            result = compare_runs(base, head, settings)
    except (GateError, ValueError) as error:
        print(f"ab: {error}")
        return 2
    print(format_result(result, settings, f"base ({args.pairs} runs, alternated with head)"))
    return result.exit_status


if __name__ == "__main__":
    raise SystemExit(main())
