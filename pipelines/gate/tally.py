"""A gate campaign's folder judged: every run against the baseline, counted per scenario, and the noise the gate's
threshold has to cover.

The campaign (:mod:`pipelines.gate.campaign`) leaves ``baseline.json`` and one ``<scenario>-<cycle>.json`` per run
in its folder; this module judges each run with the loaderbench gate (:func:`~pipelines.gate.judge.compare_runs`,
in-process) and, beside it, with pytest-benchmark's own rule (``--benchmark-compare-fail=min:25%``: a case fails
when its fastest round is 25% slower than the baseline's), and prints the Markdown table and the noise line that
:class:`~pipelines.gate.settings.GateSettings` cites.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pipelines.gate.judge import INCONCLUSIVE_EXIT, GateResult, compare_runs
from pipelines.gate.runs import GateError, RunRounds, case_key, read_benchmarks, rounds_from_records
from pipelines.gate.settings import GateSettings
from pipelines.loaders.seeds import seed_part

#: The case whose measured slowdown the table shows: the seeded loader's plain no-cache path.
MEASURED_CASE = "tfdata-none-uint8"


@dataclass(frozen=True)
class Scenario:
    """What one run of a campaign was: a seeded regression (``LOADERBENCH_REGRESSION``'s value, ``""`` for none)
    and whether a busy loop took one core meanwhile. Written ``unchanged``, ``tfdata=0.4``, ``busy:tfdata=0.4``."""

    seed: str = ""
    busy: bool = False

    @classmethod
    def parse(cls, text: str, busy: bool = False) -> Scenario:
        spec = text.strip()
        if spec.startswith("busy:"):
            busy, spec = True, spec.removeprefix("busy:")
        if spec == "unchanged":
            return cls("", busy)
        for part in spec.split(","):
            try:
                loader, fraction = seed_part(part)
            except ValueError:
                loader, fraction = "", -1.0
            if not loader or fraction == 0.0:  # a zero seed is no scenario: "unchanged" says that
                raise GateError(f"scenario {text!r}: expected unchanged or loader=fraction (fraction in (0, 1], "
                                "e.g. tfdata=0.15), optionally after busy:")
        return cls(spec, busy)

    @property
    def seeded_loaders(self) -> frozenset[str]:
        return frozenset(part.partition("=")[0] for part in self.seed.split(",") if part)

    def touches(self, loader: str | None) -> bool:
        """Whether the seed slows ``loader``'s cases (``*`` seeds every loader)."""
        return bool(self.seeded_loaders & {loader, "*"})

    @property
    def name(self) -> str:
        """The stem of its runs' files: ``busy-tfdata-0.4`` (cycle appended: ``busy-tfdata-0.4-3.json``)."""
        seed = self.seed.replace("=", "-").replace(",", "+").replace("*", "all") or "unchanged"
        return f"busy-{seed}" if self.busy else seed

    @property
    def label(self) -> str:
        seed = f"`{self.seed}`" if self.seed else "unchanged"
        return f"busy loop, {seed}" if self.busy else seed


def run_files(out: Path, scenario: Scenario) -> list[Path]:
    """The scenario's runs in ``out``, by cycle."""
    pattern = re.compile(rf"{re.escape(scenario.name)}-(\d+)\.json")
    found = [(int(m.group(1)), path) for path in out.glob(f"{scenario.name}-*.json")
             if (m := pattern.fullmatch(path.name))]
    return [path for _, path in sorted(found)]


@dataclass(frozen=True)
class RunFile:
    """A run's JSON as the tally reads it: the gate's rounds, each case's loader and pytest-benchmark's ``min``."""

    rounds: RunRounds
    loaders: Mapping[str, str | None]
    minimums: Mapping[str, float]

    @classmethod
    def read(cls, path: Path) -> RunFile:
        benchmarks = read_benchmarks(path)
        records = [bench["extra_info"] for bench in benchmarks]
        minimums = {case_key(bench["extra_info"]): bench["stats"]["min"] for bench in benchmarks
                    if isinstance(bench.get("stats"), dict) and bench["stats"].get("min")}
        return cls(rounds_from_records(records, str(path)), {case_key(r): r.get("loader") for r in records},
                   minimums)


@dataclass(frozen=True)
class JudgedRun:
    """One run judged: the gate's result (``None`` when it refused, with ``refused`` saying why), and whether
    pytest-benchmark's ``min`` rule failed it."""

    scenario: Scenario
    path: Path
    run: RunFile
    result: GateResult | None
    refused: str | None
    min_failed: bool


def judge_run(base: RunFile, path: Path, scenario: Scenario, settings: GateSettings,
              min_margin: float) -> JudgedRun:
    run = RunFile.read(path)
    try:
        result, refused = compare_runs(base.rounds, run.rounds, settings), None
    except GateError as error:
        result, refused = None, str(error)
    min_failed = any(run.minimums[key] > base.minimums[key] * (1 + min_margin)
                     for key in run.minimums if key in base.minimums)
    return JudgedRun(scenario, path, run, result, refused, min_failed)


def judge_folder(out: Path, scenarios: Sequence[Scenario], settings: GateSettings,
                 min_margin: float = 0.25) -> list[JudgedRun]:
    """Every scenario's runs in ``out`` judged against ``out/baseline.json``; :class:`GateError` when there is no
    baseline or no run of these scenarios."""
    baseline = out / "baseline.json"
    if not baseline.is_file():
        raise GateError(f"no baseline at {baseline}: a campaign folder starts with one -- run "
                        f"`python -m pipelines.gate.campaign {out}` (without --judge) to measure it and the runs")
    base = RunFile.read(baseline)
    if not base.rounds.cases:
        raise GateError(f"{baseline}: no case in it recorded its rounds: measure the campaign again")
    judged = [judge_run(base, path, scenario, settings, min_margin)
              for scenario in scenarios for path in run_files(out, scenario)]
    if not judged:
        raise GateError(f"no run of {', '.join(s.name for s in scenarios)} in {out} "
                        "(files <scenario>-<cycle>.json): nothing to judge")
    return judged


def _ratios(runs: Sequence[JudgedRun], case: str) -> list[float]:
    return [v.ratio for r in runs if r.result for v in r.result.verdicts if v.case == case]


def _slowdown(runs: Sequence[JudgedRun]) -> str:
    """Median ratio of :data:`MEASURED_CASE`'s warm and cold epochs over the runs, and the warm range."""
    warm, cold = _ratios(runs, f"{MEASURED_CASE}-warm"), _ratios(runs, f"{MEASURED_CASE}-cold")
    if not warm and not cold:
        return "not measured"
    text = " / ".join(f"{np.median(r):.2f}x" if r else "-" for r in (warm, cold))
    return text + (f" (warm {min(warm):.2f}-{max(warm):.2f}x)" if len(warm) > 1 else "")


def table_row(scenario: Scenario, runs: Sequence[JudgedRun]) -> str:
    statuses = Counter(r.result.exit_status for r in runs if r.result)
    named = Counter(v.case for r in runs if r.result for v in r.result.regressed)
    cases = ", ".join(f"{case} x{count}" for case, count in sorted(named.items()))
    failed = sum(r.min_failed for r in runs)
    return (f"| {scenario.label} | {len(runs)} | {statuses[0]} | {statuses[1]} | {statuses[INCONCLUSIVE_EXIT]} "
            f"| {cases} | {_slowdown(runs)} | {failed} of {len(runs)} |")


def unchanged_ratios(runs: Sequence[JudgedRun]) -> list[float]:
    """The drift-normalised ratios of every case no seed touched, judged on a quiet machine: all cases of the
    unchanged runs, the other loaders' cases of the seeded runs; busy runs and inconclusive cases left out."""
    return [v.ratio for r in runs if r.result and not r.scenario.busy for v in r.result.verdicts
            if v.normalised and not v.inconclusive and not r.scenario.touches(r.run.loaders.get(v.case))]


def noise_line(runs: Sequence[JudgedRun], settings: GateSettings) -> str:
    ratios = unchanged_ratios(runs)
    if not ratios:
        return "noise: no unchanged case was judged on the quiet machine (no quiet run, or every case inconclusive)"
    return (f"noise: unchanged cases' drift-normalised ratios, over {len(ratios)} comparisons (quiet runs, cases no "
            f"seed touches): median {np.median(ratios):.3f}x, 99th percentile {np.percentile(ratios, 99):.3f}x, "
            f"largest {max(ratios):.3f}x; the gate's threshold: {1 + settings.threshold:.2f}x")


def format_tally(runs: Sequence[JudgedRun], scenarios: Sequence[Scenario], settings: GateSettings,
                 min_margin: float = 0.25) -> str:
    """The Markdown table (one row per scenario with runs), the noise line, and each refused run's reason."""
    lines = [f"| scenario | runs | passed | regressed | inconclusive | cases judged regressed "
             f"| measured slowdown of {MEASURED_CASE} (warm / cold) | pytest-benchmark `min:{min_margin:.0%}` failed |",
             "|---|---:|---:|---:|---:|---|---|---:|"]
    for scenario in scenarios:
        mine = [r for r in runs if r.scenario == scenario]
        if mine:
            lines.append(table_row(scenario, mine))
    lines += ["", noise_line(runs, settings)]
    lines += [f"refused {r.path.name}: {r.refused}" for r in runs if r.refused]
    return "\n".join(lines)
