"""The scenario grid's report, read from the ``study.json`` files a grid keeps under its folder
(:mod:`pipelines.study.grid`): for each scenario -- dataset shape, RAM budget, model -- the row the study
recommended for the held-out size next to the fastest row measured there, as the study's own check recorded
them (:mod:`pipelines.study.check`), and, over several runs, each law's held-out error range.

It reads files only (``python -m pipelines.study.grid OUT --judge``) and imports no TensorFlow.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, fields
from pathlib import Path

from pipelines.study.check import Check
from pipelines.study.settings import StudySettings
from pipelines.units import format_bytes

#: A grid run's folder under OUT: ``run-1``, ``run-2``...
RUN_FOLDER = re.compile(r"run-(\d+)")

#: A law's held-out error counted as within the goal (predicted/measured - 1).
ERROR_GOAL = 0.10

#: The held-out errors' epoch kinds, as the study's table names them.
EPOCH_NAMES = {"cold": "first", "warm": "later"}


@dataclass(frozen=True)
class Scenario:
    """One study of a grid, as its ``study.json`` recorded it.

    Attributes:
        run: the grid run it belongs to (``run-R`` in its path).
        settings: the study's settings (the held-out size is the scenario's size).
        model_rate: the real model's images/s alone, as the study measured or reused it; ``None`` otherwise.
        check: the recommendation at the held-out size against the epochs measured there; ``None`` where the
            study could not check it.
        errors: each loader law's held-out error by (case id, epoch kind).
        path: the ``study.json`` read.
    """

    run: int
    settings: StudySettings
    model_rate: float | None
    check: Check | None
    errors: dict[tuple[str, str], float]
    path: Path

    @property
    def shape(self) -> str:
        return f"{self.settings.preset}, {self.settings.held_out or self.settings.full_size:,}"

    @property
    def model(self) -> str:
        """The model of the training columns and how they were predicted."""
        settings = self.settings
        if not settings.model:
            return "no model (loader epochs)"
        training = "measured" if settings.measures_training else "composed"
        if settings.accelerator:
            return f"accelerator {settings.accelerator:,.0f} img/s ({training})"
        return f"MobileNet{f' {self.model_rate:.0f} img/s' if self.model_rate else ''} ({training})"

    @property
    def order(self) -> tuple:
        """Accelerators (slowest first), then MobileNet, then no model; each by shape, budget (largest first), run."""
        settings = self.settings
        kind = 0 if settings.accelerator else 1 if settings.model else 2
        return (kind, settings.accelerator or 0, settings.preset, settings.held_out or 0, -settings.ram_budget,
                self.run)


def saved_settings(saved: dict) -> StudySettings:
    """The :class:`StudySettings` a ``study.json`` recorded (all but the contract)."""
    names = {f.name for f in fields(StudySettings)} - {"contract"}
    values = {name: value for name, value in saved.items() if name in names}
    values["sizes"] = tuple(values.get("sizes", StudySettings.sizes))
    values["data_root"] = Path(values["data_root"]) if values.get("data_root") else None
    return StudySettings(**values)


def read_scenario(path: Path, run: int) -> Scenario:
    """One ``study.json``; a :class:`ValueError` naming it when it is not one the study wrote."""
    try:
        saved = json.loads(path.read_text())
        errors = {tuple(key.rsplit("-", 1)): error for key, error in saved.get("held_out_errors", {}).items()}
        return Scenario(run, saved_settings(saved["settings"]), (saved.get("model_alone") or {}).get("images_per_sec"),
                        Check(**saved["check"]) if saved.get("check") else None, errors, path)
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise ValueError(f"{path}: not a study.json written by python -m pipelines.study ({error})") from None


def read_scenarios(out: Path) -> list[Scenario]:
    """Every ``study.json`` under ``out``'s ``run-R`` folders, in the table's order."""
    found = []
    for run_folder in out.iterdir() if out.is_dir() else ():
        match = RUN_FOLDER.fullmatch(run_folder.name)
        if match and run_folder.is_dir():
            found += [read_scenario(path, int(match.group(1))) for path in sorted(run_folder.rglob("study.json"))]
    return sorted(found, key=lambda s: s.order)


def _measured(seconds: float, spread: float) -> str:
    return f"{seconds:.2f} s ±{100 * spread:.0f}%"


def grid_lines(scenarios: Sequence[Scenario]) -> list[str]:
    """The grid as a Markdown table (a run column where there are several runs) and a count of the verdicts."""
    runs = len({s.run for s in scenarios}) > 1
    header = ["run"] * runs + ["shape", "budget", "model", "recommended", "fastest measured", "check"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for s in scenarios:
        c = s.check
        cells = [str(s.run)] * runs + [s.shape, format_bytes(s.settings.ram_budget), s.model]
        if c is None:
            cells += ["-", "-", "no check"]
        else:
            fastest = ("the same" if c.fastest == c.recommended
                       else f"{c.fastest} {_measured(c.fastest_s, c.fastest_spread)}")
            cells += [f"{c.recommended} {_measured(c.recommended_s, c.recommended_spread)}", fastest, c.verdict]
        lines.append("| " + " | ".join(cells) + " |")
    return lines + ["", verdict_line(scenarios)]


def verdict_line(scenarios: Sequence[Scenario]) -> str:
    checked = [s.check.verdict for s in scenarios if s.check]
    line = (f"{sum(v != 'miss' for v in checked)} of {len(checked)} checked scenarios pass "
            f"({checked.count('match')} match, {checked.count('within noise')} within noise, "
            f"{checked.count('miss')} miss)")
    unchecked = len(scenarios) - len(checked)
    return line + (f"; {unchecked} without a check (no held-out size, or a fitting row not measured there)"
                   if unchecked else "")


def _span(errors: Sequence[float]) -> str:
    low, high = min(errors), max(errors)
    return f"{100 * low:+.0f}%" if low == high else f"{100 * low:+.0f}% to {100 * high:+.0f}%"


def error_lines(scenarios: Sequence[Scenario]) -> list[str]:
    """Each loader law's held-out error range over the runs, per shape and model (a study re-checked for
    another budget reuses its points, so one study a run counts); empty with a single run."""
    if len({s.run for s in scenarios}) < 2:
        return []
    runs: dict[tuple[str, str], dict[int, dict[tuple[str, str], float]]] = {}
    for s in scenarios:
        if s.errors:
            runs.setdefault((s.shape, s.model), {}).setdefault(s.run, s.errors)
    lines = []
    for (shape, model), by_run in runs.items():
        laws: dict[tuple[str, str], list[float]] = {}
        for errors in by_run.values():
            for law, error in errors.items():
                laws.setdefault(law, []).append(error)
        lines += ["", f"held-out error over {len(by_run)} runs (predicted/measured - 1): {shape}, {model}"]
        cases = dict.fromkeys(case for case, _ in laws)
        width = max(map(len, cases))
        lines += [f"  {case.ljust(width)}  " + ", ".join(f"{name} {_span(laws[(case, kind)])}"
                                                       for kind, name in EPOCH_NAMES.items() if (case, kind) in laws)
                  for case in cases]
        lines.append("  " + "; ".join(_kind_summary(laws, kind, name) for kind, name in EPOCH_NAMES.items()
                                      if any(k == kind for _, k in laws)))
    return lines


def _kind_summary(laws: dict[tuple[str, str], list[float]], kind: str, name: str) -> str:
    """``first epochs -11% to +12% (16 of 18 within 10%)``: one epoch kind's errors, every law and run."""
    errors = [e for (_, k), values in laws.items() if k == kind for e in values]
    within = sum(abs(e) <= ERROR_GOAL for e in errors)
    return f"{name} epochs {_span(errors)} ({within} of {len(errors)} within {100 * ERROR_GOAL:.0f}%)"
