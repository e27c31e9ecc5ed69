"""``python -m pipelines.study.grid OUT``: the scenario grid -- the study's recommendation checked on measured
epochs for every dataset shape x RAM budget x model.

    python -m pipelines.study.grid reports/grid [--shapes dogs-vs-cats:3000,coco2017:2000]
        [--budgets 16GB,1GB,0.5GB] [--models accelerator=1000,mobilenet] [--runs 1] [--judge]

A shape ``PRESET:N`` and a model make one measuring study, ``python -m pipelines.study --preset PRESET
--held-out N --full-images N [--accelerator RATE | --no-model]`` at the first budget; every other budget is
re-checked from its ``study.json`` with ``--points FILE --machine-ram B``, measuring nothing. Each study runs as
a child process that dies with this one (:func:`pipelines.cleanup.children.dying_with_parent`) and keeps its
files (and what it printed, ``study.txt``) in ``OUT/run-R/PRESET-N/MODEL/BUDGET/``. A ``study.json`` already
there is kept, not measured again: an interrupted grid resumes where it stopped (remove OUT to start afresh).
Then the grid's table is printed from the checks the studies wrote (:mod:`pipelines.study.grid_report`), and
with several runs each law's held-out error range; ``--judge`` only reads OUT and prints them.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from pipelines.cleanup.children import child_environment, dying_with_parent, module_command
from pipelines.datasets.options import DATA_ROOT, PRESET, SEED
from pipelines.datasets.presets import PRESETS
from pipelines.harness.plan import MIN_ROUND_S, ROUNDS
from pipelines.harness.settings import ACCELERATOR
from pipelines.loaders.contract import CACHE_DIR
from pipelines.options import JUDGE, OUT, CommandParser, Option, add_options, command_parser
from pipelines.values import count, names, positive, size, writable_folder
from pipelines.study.grid_report import error_lines, grid_lines, read_scenarios
from pipelines.study.settings import (FULL_IMAGES, HELD_OUT, MACHINE_RAM, NO_LEVELS, NO_MODEL, POINTS, SIZES,
                                      StudySettings)
from pipelines.units import format_bytes
from pipelines.validation import require


@dataclass(frozen=True)
class Shape:
    """A dataset shape (a preset) and the size each scenario is predicted, held out and checked at."""

    preset: str
    images: int

    @property
    def spec(self) -> str:
        """As ``--shapes`` takes it: ``dogs-vs-cats:3000``."""
        return f"{self.preset}:{self.images}"

    @property
    def folder(self) -> str:
        return f"{self.preset}-{self.images}"


@dataclass(frozen=True)
class GridModel:
    """A model of the grid: ``accelerator`` (emulated, at ``rate`` images/s), ``mobilenet`` or ``none``."""

    kind: str
    rate: float | None = None

    def __post_init__(self) -> None:
        require(self.kind in ("accelerator", "mobilenet", "none"),
                f"a model is accelerator=RATE, mobilenet or none, got {self.kind!r}")
        require((self.kind == "accelerator") == (self.rate is not None and self.rate > 0),
                f"an accelerator needs a positive rate (accelerator=1000), got {self}")

    @property
    def options(self) -> list[str]:
        """The study's options for this model."""
        if self.kind == "accelerator":
            return [ACCELERATOR.flag, f"{self.rate:g}"]
        return [NO_MODEL.flag] if self.kind == "none" else []

    @property
    def spec(self) -> str:
        """As ``--models`` takes it: ``accelerator=1000``, ``mobilenet``, ``none``."""
        return f"accelerator={self.rate:g}" if self.kind == "accelerator" else self.kind

    @property
    def folder(self) -> str:
        return self.spec.replace("=", "-")


@dataclass(frozen=True)
class GridSettings:
    """``python -m pipelines.study.grid``'s settings.

    Attributes:
        shapes: the dataset shapes, each with its scenario size.
        budgets: the RAM budgets (bytes); the first is the measuring studies', the others re-checked.
        models: the models of the training columns.
        runs: how many times the whole grid is measured.
        measuring: study options forwarded to the measuring studies only (``--sizes``, ``--rounds``...: the
            re-checks measure nothing and refuse them); the study's defaults apply where none is given.
        cache_dir: where the studies write file caches (their free disk is checked there too).
    """

    shapes: tuple[Shape, ...] = (Shape("dogs-vs-cats", 3000), Shape("coco2017", 2000))
    budgets: tuple[int, ...] = (StudySettings.ram_budget, 10**9, 5 * 10**8)
    models: tuple[GridModel, ...] = (GridModel("accelerator", 1000.0), GridModel("mobilenet"))
    runs: int = 1
    measuring: tuple[str, ...] = ()
    cache_dir: Path | None = None

    def __post_init__(self) -> None:
        require(bool(self.shapes and self.budgets and self.models), "--shapes, --budgets, --models: one at least")
        for shape in self.shapes:
            require(shape.preset in PRESETS, f"--shapes: no preset {shape.preset!r} ({', '.join(PRESETS)})")
            require(shape.images >= 1, f"--shapes: {shape.preset}:{shape.images} needs a positive size")
        require(all(b > 0 for b in self.budgets), "--budgets must be positive")
        require(self.runs >= 1, f"--runs must be at least 1, got {self.runs}")


@dataclass(frozen=True)
class StudyCommand:
    """One study of the grid: ``python -m pipelines.study ARGS`` writing to ``folder``; ``points``: the measuring
    study's ``study.json`` it re-checks (``--points``), ``None`` for a measuring study."""

    folder: Path
    args: tuple[str, ...]
    points: Path | None = None

    @property
    def line(self) -> str:
        return " ".join(["python -m pipelines.study", *self.args])


def budget_folder(budget: int) -> str:
    return format_bytes(budget).replace(" ", "")


def plan(settings: GridSettings, out: Path) -> list[StudyCommand]:
    """Every study of the grid, each measuring study before the re-checks of its points."""
    commands = []
    first, *others = settings.budgets
    cache = [CACHE_DIR.flag, str(settings.cache_dir)] if settings.cache_dir else []
    for run in range(1, settings.runs + 1):
        for shape in settings.shapes:
            for model in settings.models:
                where = out / f"run-{run}" / shape.folder / model.folder
                scenario = [HELD_OUT.flag, str(shape.images), FULL_IMAGES.flag, str(shape.images), *model.options,
                            *cache]
                measuring = where / budget_folder(first)
                commands.append(StudyCommand(measuring, (PRESET.flag, shape.preset, *scenario, MACHINE_RAM.flag,
                                                         f"{first}B", *settings.measuring, OUT.flag, str(measuring))))
                points = measuring / "study.json"
                commands += [StudyCommand(where / budget_folder(budget),
                                          (POINTS.flag, str(points), *scenario, MACHINE_RAM.flag, f"{budget}B",
                                           OUT.flag, str(where / budget_folder(budget))), points)
                             for budget in others]
    return commands


def run_child(command: StudyCommand) -> int:
    """The study as a child process that dies with this one; what it prints goes to ``study.txt``, its
    progress bar and errors to this process's stderr."""
    command.folder.mkdir(parents=True, exist_ok=True)
    with open(command.folder / "study.txt", "w") as printed:
        return subprocess.run(dying_with_parent(module_command("pipelines.study", command.args)),
                              env=child_environment(), stdin=subprocess.DEVNULL, stdout=printed).returncode


def run_grid(settings: GridSettings, out: Path,
             runner: Callable[[StudyCommand], int] = run_child) -> list[StudyCommand]:
    """Run every study of the grid not already kept under ``out``; returns those that failed (a re-check whose
    measuring study failed is not run, and counts as failed)."""
    failed = []
    for command in plan(settings, out):
        if (command.folder / "study.json").exists():
            print(f"grid: kept {command.folder / 'study.json'}", file=sys.stderr)
            continue
        if command.points and not command.points.exists():  # its measuring study failed
            failed.append(command)
            continue
        print(f"grid: {command.line}", file=sys.stderr)
        if runner(command) != 0 or not (command.folder / "study.json").exists():
            failed.append(command)
    return failed


def parse_shape(text: str) -> Shape:
    preset, _, images = text.rpartition(":")
    if not preset or not images.isdigit():
        raise ValueError(f"a shape is PRESET:IMAGES (dogs-vs-cats:3000), got {text!r}")
    return Shape(preset, int(images))


def parse_model(text: str) -> GridModel:
    kind, _, rate = text.partition("=")
    try:
        speed = positive(rate) if rate else None
    except ValueError:
        raise ValueError(f"an accelerator's rate is a number above 0 (accelerator=1000), got {text!r}") from None
    return GridModel(kind, speed)


def shapes(text: str) -> tuple[Shape, ...]:
    """``--shapes``: comma-separated ``PRESET:IMAGES`` (which presets exist is the settings' check)."""
    return tuple(parse_shape(item) for item in names(text))


def budgets(text: str) -> tuple[int, ...]:
    """``--budgets``: comma-separated sizes (``16GB,1GB``), each read as every size option reads one."""
    return tuple(size(item) for item in names(text))


def models(text: str) -> tuple[GridModel, ...]:
    """``--models``: comma-separated ``accelerator=RATE``, ``mobilenet``, ``none``."""
    return tuple(parse_model(item) for item in names(text))


OUT_FOLDER = Option("out", "the grid's folder: every study's files, by run", parse=writable_folder, metavar="OUT")
SHAPES = Option("--shapes", "PRESET:IMAGES, comma-separated: each scenario's dataset shape and its size, held out and "
                "predicted", parse=shapes, default=",".join(s.spec for s in GridSettings.shapes),
                metavar="PRESET:N,...")
BUDGETS = Option("--budgets", "RAM budgets, comma-separated; the first is measured, the others re-checked from its "
                 "points", parse=budgets, default=",".join(budget_folder(b) for b in GridSettings.budgets),
                 metavar="SIZE,SIZE,...")
MODELS = Option("--models", "accelerator=RATE, mobilenet or none, comma-separated", parse=models,
                default=",".join(m.spec for m in GridSettings.models), metavar="MODEL,...")
RUNS = Option("--runs", "times the grid is measured", parse=count, default=GridSettings.runs, metavar="N")

#: The study's options the grid forwards, as typed, to its measuring studies (the re-checks measure nothing).
FORWARDED = (SIZES, ROUNDS, MIN_ROUND_S, SEED, DATA_ROOT)


def build_parser() -> CommandParser:
    parser = command_parser("python -m pipelines.study.grid", __doc__)
    add_options(parser.add_argument, OUT_FOLDER, SHAPES, BUDGETS, MODELS, RUNS, JUDGE, CACHE_DIR)
    measuring = parser.add_argument_group("forwarded to the measuring studies (the study's defaults otherwise)")
    # No defaults here: an option left out is left to the study.
    add_options(measuring.add_argument, *FORWARDED, NO_LEVELS, defaults={o.dest: None for o in FORWARDED})
    return parser


def _as_typed(value: object) -> str:
    """A parsed value as the study reads it again (``(6, 9)`` -> ``6,9``)."""
    return ",".join(map(str, value)) if isinstance(value, tuple) else str(value)


def settings_from_args(args: argparse.Namespace) -> GridSettings:
    forwarded = [(option.flag, _as_typed(value)) for option in FORWARDED
                 if (value := getattr(args, option.dest)) is not None]
    return GridSettings(shapes=args.shapes, budgets=args.budgets, models=args.models, runs=args.runs,
                        measuring=tuple(item for pair in forwarded for item in pair)
                        + ((NO_LEVELS.flag,) if args.no_levels else ()),
                        cache_dir=args.cache_dir)


def report(out: Path) -> str:
    """The grid's table and, over several runs, the held-out error ranges, from what ``out`` holds."""
    scenarios = read_scenarios(out)
    if not scenarios:
        raise ValueError(f"{out}: no study.json under run-R folders (run the grid first, without --judge)")
    return "\n".join(grid_lines(scenarios) + error_lines(scenarios))


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        failed = [] if args.judge else run_grid(settings_from_args(args), args.out)
        for command in failed:
            why = ("not run: its measuring study failed" if command.points and not command.points.exists()
                   else f"failed, see {command.folder / 'study.txt'}")
            print(f"grid: {why}: {command.line}", file=sys.stderr)
        print(report(args.out))
    except ValueError as error:
        print(f"grid: {error}", file=sys.stderr)
        return 2
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
