"""The spread of unchanged reruns: how far a case's median moves between runs of the same code on one machine.

A case's ``spread`` (:func:`pipelines.harness.rounds.relative_spread` of its rounds) measures the noise within
one run. Two runs of unchanged code on the same machine differ by more than that when the machine drifts between
them (another tenant, frequency, page cache), and a ``±`` read off one run then understates what a comparison
between runs sees. This command puts the two figures side by side for every case present in all the runs:

* **rerun spread**: the same statistic over the runs' medians -- half their range over their median;
* **within-run spread**: the median of the runs' own ``spread``;

then the median and the largest rerun spread over the cases, and the share of cases whose rerun spread exceeds
their within-run spread. Runs compare only when they come from one kind of machine (the gate's
:data:`~pipelines.gate.runs.IDENTITY_KEYS`: CPU model, CPU count, TensorFlow, Python).

Produce the runs with the code unchanged, one after the other, then report::

    for i in 1 2 3; do pytest benchmarks --benchmark-json=run$i.json; done
    python -m pipelines.report reruns run1.json run2.json run3.json --out reports   # also reports/reruns.md

A case is one benchmark of the suite: its group (``throughput smoke-6-s0``: the kind and the dataset) and its
id with the epoch kind (``tfdata-file-uint8-warm``), or a reference's name (``decode-limit``).
"""

from __future__ import annotations

import argparse
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from pipelines.options import OUT, Option, add_options, command_parser, refuse
from pipelines.values import existing_file
from pipelines.units import relative_spread
from pipelines.report.results import ReportError, load_results

#: A case across runs: ``(group, case id with its epoch kind)``.
CaseKey = tuple[str, str]


@dataclass(frozen=True)
class Run:
    """One run's rate and within-run spread per case, and the machine it ran on."""

    source: str
    identity: Mapping[str, str]
    rates: Mapping[CaseKey, float]
    spreads: Mapping[CaseKey, float | None]


@dataclass(frozen=True)
class CaseReruns:
    """One case's median images/s in each run (in the runs' order) and each run's within-run spread."""

    group: str
    case: str
    rates: tuple[float, ...]
    spreads: tuple[float | None, ...]

    @property
    def rerun_spread(self) -> float:
        """:func:`relative_spread` of the runs' medians, taken on time per image as the rounds' is on epoch time."""
        return relative_spread([1 / rate for rate in self.rates])

    @property
    def within_spread(self) -> float | None:
        known = [s for s in self.spreads if s is not None]
        return statistics.median(known) if known else None

    @property
    def larger(self) -> str:
        """``rerun``, ``within`` or ``equal``: which spread is the larger; ``-`` without a within-run spread."""
        if self.within_spread is None:
            return "-"
        if self.rerun_spread == self.within_spread:
            return "equal"
        return "rerun" if self.rerun_spread > self.within_spread else "within"


def case_key(record: Mapping[str, Any]) -> CaseKey:
    """``("throughput smoke-6-s0", "tfdata-file-uint8-warm")``; a reference keeps its name (``decode-limit``)."""
    from pipelines.harness.cases import record_case

    case = record.get("case") or record_case(record)
    return str(record.get("group") or ""), case if case == record.get("loader") else f"{case}-{record.get('epoch')}"


def run_from_records(records: Sequence[Mapping[str, Any]], source: str) -> Run:
    """The records' rates by case (records without ``images_per_sec`` are left out) and their machine."""
    from pipelines.gate.runs import identity_of

    rates: dict[CaseKey, float] = {}
    spreads: dict[CaseKey, float | None] = {}
    identity: dict[str, str] = {}
    for record in records:
        for key, value in identity_of(record).items():
            identity.setdefault(key, value)
        if record.get("images_per_sec"):
            key = case_key(record)
            rates[key] = float(record["images_per_sec"])
            spreads[key] = record.get("spread")
    return Run(source, identity, rates, spreads)


def load_runs(paths: Sequence[Path | str]) -> list[Run]:
    """The runs, read with :func:`load_results`; :class:`ReportError` when fewer than two are given."""
    if len(paths) < 2:
        raise ReportError(f"the spread of reruns needs at least two runs, got {len(paths)}: run the suite again "
                          "with the code unchanged (see `python -m pipelines.report reruns --help`)")
    return [run_from_records(load_results(path), str(path)) for path in paths]


def machine_mismatch(runs: Sequence[Run]) -> list[str]:
    """``key: value (run) / value (run)`` for each comparable-machine field that differs between the runs."""
    from pipelines.gate.runs import IDENTITY_KEYS

    return [f"{key}: " + " / ".join(f"{run.identity.get(key, '?')} ({run.source})" for run in runs)
            for key in IDENTITY_KEYS if len({run.identity.get(key) for run in runs}) > 1]


def case_reruns(runs: Sequence[Run]) -> list[CaseReruns]:
    """Every case present in all the runs, sorted by group and id; :class:`ReportError` when the runs are not
    reruns on one machine or share no case."""
    mismatch = machine_mismatch(runs)
    if mismatch:
        raise ReportError("runs from different machines are not reruns: " + "; ".join(mismatch))
    common = set(runs[0].rates).intersection(*(run.rates for run in runs[1:]))
    if not common:
        raise ReportError(f"no case in common to the {len(runs)} runs (" + ", ".join(r.source for r in runs) + ")")
    return [CaseReruns(group, case, tuple(run.rates[group, case] for run in runs),
                       tuple(run.spreads[group, case] for run in runs))
            for group, case in sorted(common)]


def summary_line(cases: Sequence[CaseReruns]) -> str:
    """Median and largest rerun spread over the cases, and how often it exceeds the within-run spread."""
    median = statistics.median(c.rerun_spread for c in cases)
    largest = max(cases, key=lambda c: c.rerun_spread)
    judged = [c for c in cases if c.within_spread is not None]
    exceed = sum(c.larger == "rerun" for c in judged)
    share = f"{exceed} of {len(judged)} cases ({100 * exceed / len(judged):.0f}%)" if judged else "no case"
    return (f"Rerun spread over {len(cases)} cases: median {_pct(median)}, largest {_pct(largest.rerun_spread)} "
            f"({largest.case}, {largest.group}). It exceeds the within-run spread in {share}: there a "
            "within-run ± understates the noise a comparison between runs sees.")


def markdown_report(runs: Sequence[Run], cases: Sequence[CaseReruns]) -> str:
    """A heading naming the runs, the machine, a table of the cases, and the summary line."""
    from pipelines.gate.runs import IDENTITY_KEYS

    machine = ", ".join(f"{key} {runs[0].identity[key]}" for key in IDENTITY_KEYS if key in runs[0].identity)
    lines = [f"# Spread of unchanged reruns: {len(runs)} runs", "",
             "Runs: " + ", ".join(f"{i} `{run.source}`" for i, run in enumerate(runs, 1)),
             f"Machine: {machine or 'not recorded'}", "",
             "| group | case | " + " | ".join(f"run {i} img/s" for i in range(1, len(runs) + 1))
             + " | rerun spread | within-run spread | larger |",
             "|---|---|" + "---:|" * len(runs) + "---:|---:|---|"]
    for c in cases:
        lines.append(f"| {c.group} | {c.case} | " + " | ".join(f"{rate:.1f}" for rate in c.rates)
                     + f" | {_pct(c.rerun_spread)} | {_pct(c.within_spread)} | {c.larger} |")
    only = sorted(set().union(*(run.rates for run in runs)) - {(c.group, c.case) for c in cases})
    if only:
        lines += ["", "Not in every run: " + ", ".join(f"{case} ({group})" for group, case in only)]
    return "\n".join(lines + ["", summary_line(cases)])


def _pct(spread: float | None) -> str:
    return "-" if spread is None else f"±{100 * spread:.1f}%"


PROG = "python -m pipelines.report reruns"
#: The report's file in ``--out``.
REPORT_NAME = "reruns.md"

RUNS = Option("runs", "pytest-benchmark JSON of each run (two or more)", parse=existing_file, metavar="RUN.json",
              nargs="+", default_text="")


def _parser() -> argparse.ArgumentParser:
    parser = command_parser(PROG, None)
    parser.description = __doc__
    add_options(parser.add_argument, RUNS,
                replace(OUT, default_text=f"none: the report is printed only (with --out, also written to "
                                          f"FOLDER/{REPORT_NAME})"))
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        runs = load_runs(args.runs)
        text = markdown_report(runs, case_reruns(runs))
    except ReportError as error:
        return refuse(PROG, error)
    if args.out:
        try:
            args.out.mkdir(parents=True, exist_ok=True)
        except OSError as error:  # as root, /proc/x looks writable until made
            return refuse(PROG, f"argument --out: cannot make {args.out}: {error.strerror or error}")
    print(text)
    if args.out:
        (args.out / REPORT_NAME).write_text(text + "\n")
        print(f"wrote {args.out / REPORT_NAME}")
    return 0
