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
import shutil
import subprocess
import sys
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path

from pipelines.cleanup.children import dying_with_parent
from pipelines.gate.settings import GATE_PYTEST_ARGS, GateSettings
from pipelines.gate.runs import GateError
from pipelines.cleanup.scratch import PREFIX, scratch_folder
from pipelines.options import OUT, Option, add_options, command_parser, defaults_of, refuse, settings_from
from pipelines.values import count, existing_folder

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

PROG = "python -m pipelines.gate.ab"


def _revision(text: str) -> str:
    """A git revision's name; whether the repository has it is checked once ``--tree`` is known."""
    if not text.strip() or text.startswith("-"):
        raise ValueError(f"a git revision (a branch, tag or commit), got {text!r}")
    return text


def _python(text: str) -> str:
    """A Python to run a side with: a path, or a name on PATH."""
    if not text.strip() or shutil.which(text) is None:
        raise ValueError(f"a Python executable (a path, or a name on PATH), got {text!r}")
    return text


def _env_pair(text: str) -> str:
    """``NAME=VALUE`` (the value may hold ``=`` and ``,``: ``LOADERBENCH_REGRESSION=tfdata=0.2,kerasdir=0.1``)."""
    name, sep, _ = text.partition("=")
    if not sep or not name.strip():
        raise ValueError(f"NAME=VALUE, e.g. LOADERBENCH_REGRESSION=tfdata=0.15, got {text!r}")
    return text


BASE_REV = Option("--base-rev", "git revision for the base side, checked out in a temporary worktree",
                  parse=_revision, metavar="REV", default_text="this working tree")
HEAD_REV = Option("--head-rev", "git revision for the head side, checked out in a temporary worktree",
                  parse=_revision, metavar="REV", default_text="this working tree")
BASE_PYTHON = Option("--base-python", "Python of the base side's environment", parse=_python, default=sys.executable,
                     metavar="PYTHON")
HEAD_PYTHON = Option("--head-python", "Python of the head side's environment", parse=_python, default=sys.executable,
                     metavar="PYTHON")
BASE_ENV = Option("--base-env", "environment variable for the base side's runs (repeatable)", parse=_env_pair,
                  metavar="NAME=VALUE", default_text="none")
HEAD_ENV = Option("--head-env", "environment variable for the head side's runs (repeatable)", parse=_env_pair,
                  metavar="NAME=VALUE", default_text="none")
TREE = Option("--tree", "the suite's checkout: the side without a revision, and the repository revisions come from",
              parse=existing_folder, metavar="FOLDER", default_text="the current folder")
PAIRS = Option("--pairs", "runs per side, alternated", parse=count, default=3, metavar="N")
PYTEST_ARGS = Option("pytest_args", "after --: more pytest options for every run (e.g. -- --preset coco2017 "
                     "--images 500)", nargs=argparse.REMAINDER, default_text="")


def _repeatable(parser: argparse.ArgumentParser):
    """``parser.add_argument`` for options given once a value (``--base-env A=1 --base-env B=2``)."""
    return lambda flag, **kwargs: parser.add_argument(flag, action="append", **kwargs)


def build_parser() -> argparse.ArgumentParser:
    parser = command_parser(PROG, __doc__)
    for rev, python, env in ((BASE_REV, BASE_PYTHON, BASE_ENV), (HEAD_REV, HEAD_PYTHON, HEAD_ENV)):
        add_options(parser.add_argument, rev, python)
        add_options(_repeatable(parser), env)
    add_options(parser.add_argument, TREE, PAIRS, replace(OUT, default_text="a temporary folder, removed afterwards"))
    add_options(parser.add_argument, GateSettings, defaults=defaults_of(AB_GATE))
    add_options(parser.add_argument, PYTEST_ARGS)
    return parser


def check_revisions(tree: Path, revisions: Sequence[tuple[Option, str | None]]) -> str | None:
    """What is wrong with the sides before anything runs, naming the option; ``None`` when nothing is: each
    revision is a commit of ``tree``'s repository, and a side without one finds benchmarks/ in ``tree``."""
    for option, revision in revisions:
        if revision is None:
            if not (tree / "benchmarks").is_dir():
                return (f"argument --tree: {tree} has no benchmarks/ folder (the side without {option.flag} runs "
                        "there): run this command from the suite's checkout, or give --tree")
            continue
        found = subprocess.run(["git", "rev-parse", "--verify", "--quiet", f"{revision}^{{commit}}"], cwd=tree,
                               capture_output=True, text=True)
        if found.returncode != 0:
            return f"argument {option.flag}: {revision!r} is not a commit of the git repository at {tree}"
    return None


def main(argv: Sequence[str] | None = None) -> int:
    """Exit status: 0 no case regressed, 1 a case regressed, 2 the comparison could not be made, 6
    (:data:`~pipelines.gate.judge.INCONCLUSIVE_EXIT`) a case could not be judged: the machine was shared."""
    args = build_parser().parse_args(argv)
    pytest_args = [a for a in args.pytest_args if a != "--"]
    tree = args.tree or Path.cwd()
    settings = settings_from(GateSettings, args)
    wrong = check_revisions(tree, ((BASE_REV, args.base_rev), (HEAD_REV, args.head_rev)))
    if wrong:
        return refuse(PROG, wrong)
    if args.out is not None:
        try:
            args.out.mkdir(parents=True, exist_ok=True)
        except OSError as error:  # as root, /proc/x looks writable until made
            return refuse(PROG, f"argument --out: cannot make {args.out}: {error.strerror or error}")
    from tqdm import tqdm

    from pipelines.gate.judge import compare_runs, format_result
    from pipelines.gate.runs import load_run, pooled

    try:
        with ExitStack() as stack:
            sides = []
            for name in ("base", "head"):
                revision = getattr(args, f"{name}_rev")
                side_tree = stack.enter_context(worktree(revision, tree)) if revision else tree
                sides.append(Side(name, side_tree, getattr(args, f"{name}_python"),
                                  parse_env(getattr(args, f"{name}_env") or [])))
                sides[-1].check()
            out = args.out or stack.enter_context(scratch_folder("ab-runs"))
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
