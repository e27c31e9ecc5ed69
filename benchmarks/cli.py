"""``loaderbench``: the benchmark suite from any folder, once installed with pip -- a team's own loader beside ours
(docs/own-pipeline.md).

    loaderbench bench [--loader-spec MODULE:ATTRIBUTE,...] [pytest options]   # the suite, as `tox -e bench`
    loaderbench baseline [--loader NAME] [pytest options]                     # save the gate's baseline
    loaderbench gate [--loader NAME] [pytest options]                         # judge against it (docs/gate.md)

Each runs pytest on this installed suite with this suite's own settings (the ones ``pyproject.toml`` gives a run
in this repository), whatever pytest configuration the folder it runs from has; results and the gate's files go
under ``.benchmarks/`` in that folder, as in this repository.
"""

from __future__ import annotations

import argparse
import os
import sys
from dataclasses import replace
from pathlib import Path

from pipelines.loaders.declared import ENVIRONMENT, LOADER_SPEC
from pipelines.options import add_options, command_parser, refuse

PROG = "loaderbench"
#: This suite's package as installed (``loaderbench_benchmarks``), or ``benchmarks`` in this repository.
PACKAGE = __name__.rpartition(".")[0]
#: What ``pyproject.toml``'s ``addopts`` gives a run here (a test keeps the two equal).
SUITE_ARGS: tuple[str, ...] = ("-ra", "--strict-markers", "--benchmark-timer=pipelines.epoch.clock.now",
                               "--benchmark-columns=min,median,iqr,mean,rounds,iterations", "--benchmark-sort=name")
#: The gate's files, as ``tox -e bench-baseline`` and ``bench-gate`` write and read them.
GATE_FOLDER = Path(".benchmarks") / "gate"


def pytest_args(command: str, loader: str | None, rest: list[str]) -> list[str]:
    """The pytest command line of ``command`` (``bench``, ``baseline``, ``gate``); ``loader`` narrows the gate's
    cases to one loader's."""
    from pipelines.gate.settings import GATE_PYTEST_ARGS  # imports the registry: after --loader-spec is set

    # The folder's own pytest configuration and conftest.py files are not this suite's: neither is read.
    args = ["-p", f"{PACKAGE}.plugin", "-c", os.devnull, "--rootdir", os.getcwd(),
            f"--confcutdir={Path(__file__).parent}", *SUITE_ARGS]
    if command == "bench":
        return [*args, "--benchmark-autosave", "--pyargs", PACKAGE, *rest]
    gate = list(GATE_PYTEST_ARGS)
    if loader:
        gate[gate.index("-k") + 1] += f" and {loader}"
    storage = f"--benchmark-storage=file://{(GATE_FOLDER / 'storage').resolve()}"
    if command == "baseline":
        return [*args, *gate, f"--benchmark-json={GATE_FOLDER / 'baseline.json'}", storage, "--benchmark-save=baseline",
                "--pyargs", PACKAGE, *rest]
    return [*args, *gate, f"--gate-baseline={GATE_FOLDER / 'baseline.json'}",
            f"--benchmark-json={GATE_FOLDER / 'latest.json'}", storage, "--benchmark-compare",
            "--pyargs", PACKAGE, *rest]


def build_parser() -> argparse.ArgumentParser:
    """The command's parser; it reads the loader registry, so the declarations --loader-spec names are in it."""
    from pipelines.loaders.registry import LOADER

    parser = command_parser(PROG, __doc__)
    commands = parser.add_subparsers(dest="command", required=True, metavar="{bench,baseline,gate}")
    gate_loader = replace(LOADER, help="gate this loader's cases only", default=None,
                          default_text="every loader's no-cache throughput cases")
    for name, help in (("bench", "run the benchmark suite (pytest options after it)"),
                       ("baseline", "save the gate's baseline in .benchmarks/gate/"),
                       ("gate", "judge this run against the baseline: exit 1 regressed, 6 inconclusive")):
        command = commands.add_parser(name, help=help, description=help, allow_abbrev=False)  # pytest's pass on
        add_options(command.add_argument, LOADER_SPEC, *([gate_loader] if name != "bench" else []))
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    early = argparse.ArgumentParser(add_help=False, allow_abbrev=False)
    add_options(early.add_argument, LOADER_SPEC)
    named = early.parse_known_args(argv)[0].loader_spec
    if named:  # read where the registry is first imported: in build_parser, before pytest starts
        os.environ[ENVIRONMENT] = ",".join(filter(None, [os.environ.get(ENVIRONMENT), *named]))
    args, rest = build_parser().parse_known_args(argv)
    from pipelines.loaders.registry import REFUSED_LOADERS

    refused = [r for r in REFUSED_LOADERS if r.source in named]
    if refused:
        return refuse(PROG, f"--loader-spec: {refused[0].line()}")
    import pytest

    return int(pytest.main(pytest_args(args.command, getattr(args, "loader", None), rest)))


if __name__ == "__main__":
    sys.exit(main())
