"""The gate's campaign: the runs behind :class:`~pipelines.gate.settings.GateSettings`' threshold, measured and
judged by one command, so that its figures can be reproduced on any machine.

One baseline of the gate's selection (:data:`~pipelines.gate.settings.GATE_PYTEST_ARGS`) on the quiet machine,
then ``--cycles`` cycles of one run per scenario -- unchanged, or with a seeded regression
(``LOADERBENCH_REGRESSION=tfdata=F``, :mod:`pipelines.loaders.seeded`), each optionally beside a busy loop on
one core -- every run's JSON (and log) kept in ``OUT``; then every run judged against the baseline
(:mod:`pipelines.gate.tally`): a Markdown table per scenario and the noise the threshold has to cover.

Runs cycle through the scenarios rather than one scenario after another, so that the machine's drift over the
campaign falls on every scenario alike. A folder that already holds a baseline keeps it, and new cycles are
numbered after the ones there: a campaign can be extended. Each benchmark run and busy loop is started to die
with this command (:func:`~pipelines.cleanup.children.dying_with_parent`), and a busy loop is killed as soon as its
run ends, Ctrl-C included.

    python -m pipelines.gate.campaign OUT --cycles 10                  # the table GateSettings cites
    python -m pipelines.gate.campaign OUT --cycles 5 \\
        --scenarios busy:unchanged,busy:tfdata=1.0,busy:tfdata=0.4,unchanged,tfdata=0.4   # a busy neighbour
    python -m pipelines.gate.campaign OUT --judge                      # judge OUT's runs again, measure nothing

Every run is a whole gate run: 10 cycles of the four default scenarios are 40 of them, after the baseline. Run it
on a machine with nothing else busy: a quiet run that reads "inconclusive" says the machine was not quiet.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from pipelines.cleanup.children import child_environment, dying_with_parent, module_command
from pipelines.gate.runs import GateError
from pipelines.gate.settings import GATE_PYTEST_ARGS, GateSettings
from pipelines.loaders.seeds import REGRESSION_VARIABLE
from pipelines.gate.tally import Scenario, format_tally, judge_folder, run_files
from pipelines.options import JUDGE, Option, add_options, command_parser, refuse, settings_from
from pipelines.values import count, non_negative, writable_folder
from pipelines.validation import require

def suite_root() -> Path:
    """The checkout whose ``benchmarks/`` the runs time: the working folder when it has one (the suite is run
    from its checkout, also under tox, where ``pipelines`` itself is installed), else this package's checkout."""
    here = Path.cwd()
    return here if (here / "benchmarks").is_dir() else Path(__file__).resolve().parents[2]


DEFAULT_SCENARIOS = "unchanged,tfdata=0.15,tfdata=0.22,tfdata=0.4"
DEFAULT_CYCLES = 5

#: What the busy neighbour runs: one Python thread spinning, a core's worth of CPU.
BUSY_LOOP = "while True: pass"


def parse_scenarios(text: str, busy: bool = False) -> tuple[Scenario, ...]:
    """``--scenarios``' scenarios (a seed with a comma in it is written with ``+``: ``tfdata=0.2+kerasdir=0.1``)."""
    return tuple(Scenario.parse(part.replace("+", ","), busy) for part in text.split(",") if part.strip())


@dataclass(frozen=True)
class CampaignSettings:
    """A campaign: where its runs go, how many cycles of which scenarios, and how they are judged.

    Attributes:
        out: the folder of ``baseline.json`` and the runs' ``<scenario>-<cycle>.json`` (and ``.log``).
        cycles: cycles to measure, each one run per scenario (unused with ``judge_only``).
        scenarios: what each run of a cycle is, in order.
        judge_only: judge the runs already in ``out``, measure nothing.
        gate: how the loaderbench gate judges each run.
        min_margin: pytest-benchmark's ``--benchmark-compare-fail=min:`` margin, counted beside the gate.
    """

    out: Path
    cycles: int = DEFAULT_CYCLES
    scenarios: tuple[Scenario, ...] = parse_scenarios(DEFAULT_SCENARIOS)
    judge_only: bool = False
    gate: GateSettings = field(default_factory=GateSettings)
    min_margin: float = 0.25

    def __post_init__(self) -> None:
        require(self.cycles >= 1 or self.judge_only, f"--cycles must be at least 1, got {self.cycles}")
        require(bool(self.scenarios), "--scenarios names no scenario")
        require(self.min_margin >= 0, f"--min-margin must be >= 0, got {self.min_margin}")


def benchmark_command(json_path: Path) -> list[str]:
    """One run of the gate's selection, its JSON to ``json_path``, started to die with this process."""
    return dying_with_parent(module_command("pytest", ["benchmarks", *GATE_PYTEST_ARGS, "-p", "no:cacheprovider",
                                                       f"--benchmark-json={json_path}"]))


def scenario_environment(scenario: Scenario) -> dict[str, str]:
    """This environment for a run of ``scenario``: its seed, or none even if this shell has one set."""
    env = child_environment({"PYTHONHASHSEED": "0"})
    env.pop(REGRESSION_VARIABLE, None)
    if scenario.seed:
        env[REGRESSION_VARIABLE] = scenario.seed
    return env


@contextmanager
def busy_core(busy: bool) -> Iterator[subprocess.Popen | None]:
    """A busy loop on one core while the block runs (``busy``), killed when it ends, however it ends."""
    if not busy:
        yield None
        return
    loop = subprocess.Popen(dying_with_parent([sys.executable, "-c", BUSY_LOOP]), stdin=subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        yield loop
    finally:
        loop.kill()
        loop.wait()


def run_once(json_path: Path, scenario: Scenario) -> int:
    """One benchmark run of ``scenario``, its output in ``json_path`` with ``.log`` beside it; its exit status.

    The run writes ``.partial.json``, renamed to ``json_path`` only when it succeeds: a failed or interrupted
    run is never judged as one of the campaign's."""
    partial = json_path.with_suffix(".partial.json")
    with busy_core(scenario.busy), json_path.with_suffix(".log").open("w") as log:
        status = subprocess.run(benchmark_command(partial.resolve()), cwd=suite_root(),
                                env=scenario_environment(scenario),
                                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT).returncode
    if status == 0 and partial.is_file():
        partial.replace(json_path)
    return status


def first_new_cycle(settings: CampaignSettings) -> int:
    """1, or the cycle after the highest already in ``out`` for any of the scenarios."""
    cycles = [int(path.stem.rsplit("-", 1)[1]) for s in settings.scenarios for path in run_files(settings.out, s)]
    return max(cycles, default=0) + 1


def say(message: str) -> None:
    print(f"{time.strftime('%H:%M:%S')} {message}", file=sys.stderr, flush=True)


def measure(settings: CampaignSettings) -> None:
    """The baseline (unless ``out`` has one), then the cycles; a failed run is reported and left out."""
    if not (suite_root() / "benchmarks").is_dir():
        raise GateError(f"no benchmarks/ folder in {Path.cwd()} or {suite_root()}: run the campaign from the "
                        "suite's checkout")
    settings.out.mkdir(parents=True, exist_ok=True)
    baseline = settings.out / "baseline.json"
    if baseline.is_file():
        say(f"baseline: keeping {baseline}")
    else:
        say("baseline: measuring on the quiet machine")
        status = run_once(baseline, Scenario())
        if not baseline.is_file():
            raise GateError(f"the baseline run failed (exit {status}): see {baseline.with_suffix('.log')}")
    first, total = first_new_cycle(settings), settings.cycles * len(settings.scenarios)
    for step, (cycle, scenario) in enumerate(((c, s) for c in range(first, first + settings.cycles)
                                               for s in settings.scenarios), start=1):
        path = settings.out / f"{scenario.name}-{cycle}.json"
        status = run_once(path, scenario)
        outcome = "done" if path.is_file() else f"FAILED (exit {status}), left out: see {path.with_suffix('.log')}"
        say(f"{scenario.name} cycle {cycle}: {outcome} ({step} of {total} runs)")


PROG = "python -m pipelines.gate.campaign"


def _scenarios(text: str) -> str:
    """``--scenarios``' text, each scenario checked (:meth:`Scenario.parse`)."""
    try:
        if not parse_scenarios(text):
            raise GateError(f"no scenario in {text!r}")
    except GateError as error:
        raise ValueError(f"comma-separated scenarios: unchanged or LOADER=FRACTION, each optionally after busy: "
                         f"({error})") from None
    return text


CAMPAIGN_OUT = Option("out", "the campaign's folder: baseline.json and every run's JSON and log",
                      parse=writable_folder, metavar="OUT", default_text="")
CYCLES = Option("--cycles", "cycles of one run per scenario", parse=count, metavar="N",
                default_text=str(DEFAULT_CYCLES))
SCENARIOS = Option("--scenarios", "comma-separated: unchanged or LOADER=FRACTION (a seeded regression), each "
                   "optionally after busy: (a busy loop on one core meanwhile)", parse=_scenarios,
                   default=DEFAULT_SCENARIOS, metavar="LIST")
BUSY = Option("--busy", "a busy loop on one core during every scenario's runs", parse=None, default=False)
MIN_MARGIN = Option("--min-margin", "pytest-benchmark's compare-fail margin on min, counted beside the gate (0.25 = "
                    "25%)", parse=non_negative, default=CampaignSettings.min_margin, metavar="SHARE")


def build_parser() -> argparse.ArgumentParser:
    parser = command_parser(PROG, "Measure the gate's campaign (a quiet baseline, then cycles of one run per "
                                  "scenario) and judge every run against the baseline: the table and noise figures "
                                  "behind the gate's threshold.")
    parser.epilog = "\n\n".join(part for part in __doc__.split("\n\n") if part.startswith("    python"))
    add_options(parser.add_argument, CAMPAIGN_OUT, CYCLES, SCENARIOS, BUSY, JUDGE, MIN_MARGIN)
    add_options(parser.add_argument, GateSettings)
    return parser


def campaign_settings(args: argparse.Namespace) -> CampaignSettings:
    """The campaign's settings; ``ValueError`` for options that mean nothing together (``--judge --cycles``)."""
    require(not (args.judge and args.cycles is not None),
            "argument --cycles: --judge measures nothing, so it runs no cycles: leave --cycles out")
    return CampaignSettings(args.out, args.cycles or DEFAULT_CYCLES, parse_scenarios(args.scenarios, args.busy),
                            args.judge, settings_from(GateSettings, args), args.min_margin)


def main(argv: Sequence[str] | None = None) -> int:
    """Exit status: 0 the table was printed, 2 the campaign could not be measured or judged (the message says
    why), 130 interrupted."""
    args = build_parser().parse_args(argv)
    try:
        settings = campaign_settings(args)
    except ValueError as error:
        return refuse(PROG, error)
    try:
        if not settings.judge_only:
            measure(settings)
        runs = judge_folder(settings.out, settings.scenarios, settings.gate, settings.min_margin)
    except (GateError, ValueError, OSError) as error:
        print(f"campaign: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("campaign: interrupted; the runs finished so far are in the folder (judge them with --judge)",
              file=sys.stderr)
        return 130
    print(format_tally(runs, settings.scenarios, settings.gate, settings.min_margin))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
