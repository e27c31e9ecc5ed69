"""The loaderbench regression gate: does a run's case take longer than the baseline's, beyond the noise?

pytest-benchmark's ``--benchmark-compare-fail=min:25%`` compares two numbers, one per run, against a fixed
margin: on a shared VM the margin must cover the machine's drift between runs, so only large regressions fail.
This gate reads what each case recorded instead (:mod:`pipelines.records`):

* **the rounds**, not one number: seconds per epoch of every round, so noise within a run is measured;
* **divided by the paired reference** (:mod:`pipelines.probe`), timed right after each of the case's rounds
  (the median of those), so the machine's drift between runs -- the same for both workloads -- cancels (runs
  with ``--paired-reference``);
* **an effect threshold and a rank test**: a case regresses when its normalised median is more than
  ``threshold`` slower and a one-sided Mann-Whitney test of its rounds (as timed) agrees at ``alpha`` shared
  over the cases (see :class:`~pipelines.config.GateSettings`); a bootstrap interval of the normalised ratio of
  medians is printed beside it.

Runs compare only when they ran on the same kind of machine (:data:`IDENTITY_KEYS`); otherwise the gate says
what differs and fails (or warns, by option) rather than comparing apples with pears.

    python -m pipelines.gate BASELINE.json RUN.json [--threshold 0.10] [--mismatch warn]
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from scipy import stats

from pipelines.config import GateSettings

#: What makes two runs comparable: ``extra_info`` keys written by :func:`pipelines.machine.machine_info`.
IDENTITY_KEYS: tuple[str, ...] = ("cpu_model", "cpu_count", "tensorflow", "python")

#: How a user saves a baseline (printed when there is none).
SAVE_BASELINE = "tox -e bench-baseline"


class GateError(Exception):
    """A comparison that cannot be made: no baseline, a file that is not a run, runs from different machines."""


@dataclass(frozen=True)
class CaseRounds:
    """One case's rounds: seconds per epoch, and the paired reference's seconds after each.

    ``runs``: how many of the rounds each run contributed, in order, when several runs are pooled (the A/B
    command's sides); empty for one run. Each run's rounds are normalised by that run's own reference.
    """

    case: str
    seconds: tuple[float, ...]
    paired: tuple[float, ...] = ()
    runs: tuple[int, ...] = ()

    @property
    def normalisable(self) -> bool:
        return len(self.paired) == len(self.seconds) > 0 and all(p > 0 for p in self.paired)

    def samples(self, normalise: bool) -> np.ndarray:
        """The rounds' seconds; normalised, each divided by the median of its run's paired reference rounds.

        The median, not each round's own partner: the drift to cancel is the machine's between runs (10-30%
        over minutes), while the probe's round-to-round noise (5-9% here) would only be added to every round;
        measured on the campaign in the README, per-round division caught fewer seeded regressions (3 of 5
        against 5 of 5 at the smallest size) and flagged more unchanged cases.
        """
        values = np.asarray(self.seconds, dtype=float)
        if not normalise:
            return values
        edges = np.cumsum((0, *(self.runs or (len(values),))))
        divisors = np.concatenate([np.full(end - start, np.median(self.paired[start:end]))
                                   for start, end in zip(edges[:-1], edges[1:])])
        return values / divisors

    def pooled(self, other: CaseRounds) -> CaseRounds:
        """This case's rounds with another run's (the A/B command pools its runs per side)."""
        both = self.normalisable and other.normalisable
        runs = (self.runs or (len(self.seconds),)) + (other.runs or (len(other.seconds),))
        return CaseRounds(self.case, self.seconds + other.seconds, self.paired + other.paired if both else (), runs)


@dataclass(frozen=True)
class RunRounds:
    """What a run measured, per case, and where it ran."""

    source: str
    identity: Mapping[str, str]
    cases: Mapping[str, CaseRounds]


def case_key(record: Mapping[str, Any]) -> str:
    """``tfdata-none-uint8-warm`` for a case; the reference's name (``decode-limit``) for a reference."""
    case = record.get("case") or record.get("loader", "?")
    return case if case == record.get("loader") else f"{case}-{record.get('epoch')}"


def identity_of(record: Mapping[str, Any]) -> dict[str, str]:
    """The comparable-machine fields of a record (Python as major.minor: patch releases do not matter)."""
    found = {key: str(record[key]) for key in IDENTITY_KEYS if key in record}
    if "python" in found:
        found["python"] = ".".join(found["python"].split(".")[:2])
    return found


def rounds_from_records(records: Iterable[Mapping[str, Any]], source: str) -> RunRounds:
    """A run from ``extra_info`` records (this session's, or a JSON file's); records without rounds are left out."""
    cases: dict[str, CaseRounds] = {}
    identity: dict[str, str] = {}
    for record in records:
        seconds = record.get("round_seconds")
        if not seconds:
            continue
        key = case_key(record)
        cases[key] = CaseRounds(key, tuple(seconds), tuple(record.get("paired_seconds") or ()))
        identity = identity or identity_of(record)
    return RunRounds(source, identity, cases)


def load_run(path: Path) -> RunRounds:
    """A pytest-benchmark JSON file (``--benchmark-json`` or a saved run) as a :class:`RunRounds`."""
    path = Path(path)
    if not path.is_file():
        raise GateError(f"no baseline at {path}: save one first with `{SAVE_BASELINE}`")
    try:
        document = json.loads(path.read_text())
        records = [bench["extra_info"] for bench in document["benchmarks"]]
    except (ValueError, KeyError, TypeError) as error:
        raise GateError(f"{path}: not a pytest-benchmark JSON file ({error})") from None
    run = rounds_from_records(records, str(path))
    if not run.cases:
        raise GateError(f"{path}: no case in it recorded its rounds (saved by an older loaderbench?): save a new "
                        f"baseline with `{SAVE_BASELINE}`")
    return run


def identity_mismatch(base: RunRounds, head: RunRounds) -> list[str]:
    """``key: baseline -> this run`` for each comparable-machine field that differs."""
    return [f"{key}: {base.identity.get(key, '?')} -> {head.identity.get(key, '?')}"
            for key in IDENTITY_KEYS if base.identity.get(key) != head.identity.get(key)]


@dataclass(frozen=True)
class CaseVerdict:
    """One case compared: ``ratio`` > 1 means this run is slower (median epoch over the baseline's)."""

    case: str
    ratio: float
    low: float
    high: float
    p_value: float
    normalised: bool
    regressed: bool

    def describe(self, settings: GateSettings) -> str:
        kind = "drift-normalised" if self.normalised else "raw seconds"
        return (f"{self.case}: {self.ratio:.3f}x the baseline's epoch time "
                f"[{settings.confidence:.0%} CI {self.low:.3f}-{self.high:.3f}], rank test p={self.p_value:.2g}; "
                f"gate: slower than {1 + settings.threshold:.2f}x at p < {settings.alpha:g}/cases ({kind})")


def compare_case(base: CaseRounds, head: CaseRounds, settings: GateSettings, cases: int = 1) -> CaseVerdict:
    """Judge one case (see the module docstring); ``cases``: how many share the gate's ``alpha``."""
    normalise = base.normalisable and head.normalisable
    before, after = base.samples(normalise), head.samples(normalise)
    ratio = float(np.median(after) / np.median(before))
    # The rank test reads the rounds as timed: independent rounds, so its false-alarm rate is alpha. Divided by
    # a measured reference, every round of a run would share that measurement's error, a shift the test would
    # call significant; drift between runs is the threshold's business, judged on the normalised ratio.
    p_value = float(stats.mannwhitneyu(head.samples(False), base.samples(False), alternative="greater").pvalue)
    if len(before) > 1 and len(after) > 1:
        interval = stats.bootstrap(
            (before, after), lambda b, a, axis=-1: np.median(a, axis=axis) / np.median(b, axis=axis),
            n_resamples=settings.resamples, confidence_level=settings.confidence, method="percentile",
            rng=np.random.default_rng(0), vectorized=True,
        ).confidence_interval
        low, high = float(interval.low), float(interval.high)
    else:
        low = high = ratio
    regressed = ratio > 1 + settings.threshold and p_value < settings.alpha / max(1, cases)
    return CaseVerdict(head.case, ratio, low, high, p_value, normalise, regressed)


@dataclass
class GateResult:
    """Every case both runs measured, judged; what could not be compared is listed, not hidden."""

    verdicts: list[CaseVerdict] = field(default_factory=list)
    only_in_base: list[str] = field(default_factory=list)
    only_in_head: list[str] = field(default_factory=list)
    mismatch: list[str] = field(default_factory=list)

    @property
    def regressed(self) -> list[CaseVerdict]:
        return [v for v in self.verdicts if v.regressed]


def compare_runs(base: RunRounds, head: RunRounds, settings: GateSettings) -> GateResult:
    """Judge every case both runs have. Raises :class:`GateError` on a machine mismatch when the settings say
    ``fail``; with ``warn`` the differences are kept in the result and printed."""
    mismatch = identity_mismatch(base, head)
    if mismatch and settings.mismatch == "fail":
        raise GateError(f"the baseline {base.source} ran on another machine or software ({'; '.join(mismatch)}): "
                        f"its times do not apply here. Save a baseline on this machine with `{SAVE_BASELINE}`, "
                        "or compare anyway with --gate-mismatch warn")
    shared = [key for key in head.cases if key in base.cases]
    result = GateResult(mismatch=mismatch,
                        only_in_base=sorted(set(base.cases) - set(head.cases)),
                        only_in_head=sorted(set(head.cases) - set(base.cases)))
    result.verdicts = [compare_case(base.cases[key], head.cases[key], settings, len(shared)) for key in shared]
    return result


def format_result(result: GateResult, settings: GateSettings, base_source: str) -> str:
    """The table a person reads, then one line per regression (case, ratio, interval, threshold)."""
    lines = [f"loaderbench gate against {base_source}: fails a case slower than {1 + settings.threshold:.2f}x "
             f"with rank-test p < {settings.alpha:g} over {len(result.verdicts)} cases"]
    for difference in result.mismatch:
        lines.append(f"WARNING: baseline from another machine or software: {difference}")
    width = max((len(v.case) for v in result.verdicts), default=4)
    lines.append(f"{'case':<{width}}  {'ratio':>6}  {settings.confidence:.0%} CI        {'p':>7}  verdict")
    for v in result.verdicts:
        verdict = "REGRESSED" if v.regressed else ("faster" if v.high < 1 else "ok")
        lines.append(f"{v.case:<{width}}  {v.ratio:6.3f}  {v.low:.3f}-{v.high:.3f}  {v.p_value:7.2g}  {verdict}"
                     + ("" if v.normalised else "  (raw: no paired reference)"))
    for key in result.only_in_base:
        lines.append(f"{key}: in the baseline only (not run this time)")
    for key in result.only_in_head:
        lines.append(f"{key}: new in this run (no baseline to compare)")
    for v in result.regressed:
        lines.append("REGRESSED " + v.describe(settings))
    if not result.regressed:
        lines.append("gate passed: no case regressed")
    return "\n".join(lines)


def pooled(runs: Sequence[RunRounds], source: str) -> RunRounds:
    """Several runs of one side as one: each case's rounds from every run (the A/B command's sides)."""
    cases: dict[str, CaseRounds] = {}
    for run in runs:
        for key, rounds in run.cases.items():
            cases[key] = cases[key].pooled(rounds) if key in cases else rounds
    return RunRounds(source, runs[0].identity if runs else {}, cases)


def gate_settings_parser(parser, default: GateSettings = GateSettings()) -> None:
    """The gate's options, shared by ``python -m pipelines.gate`` and ``python -m pipelines.ab``."""
    parser.add_argument("--threshold", type=float, default=default.threshold,
                        help=f"smallest slowdown that fails, as a fraction (default {default.threshold})")
    parser.add_argument("--alpha", type=float, default=default.alpha,
                        help=f"false-alarm rate of the rank test over all cases (default {default.alpha})")
    parser.add_argument("--mismatch", choices=("fail", "warn"), default=default.mismatch,
                        help="a baseline from another CPU, core count, TensorFlow or Python: fail or warn "
                             f"(default {default.mismatch})")


def settings_from_args(args) -> GateSettings:
    return GateSettings(threshold=args.threshold, alpha=args.alpha, mismatch=args.mismatch)


def main(argv: Sequence[str] | None = None) -> int:
    """Exit status: 0 passed, 1 a case regressed, 2 no comparison possible (the message says why)."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m pipelines.gate", description=__doc__.split("\n\n")[0])
    parser.add_argument("baseline", type=Path, help="the baseline run's JSON (--benchmark-json)")
    parser.add_argument("run", type=Path, help="the run to judge, same format")
    gate_settings_parser(parser)
    args = parser.parse_args(argv)
    try:
        settings = settings_from_args(args)
        result = compare_runs(load_run(args.baseline), load_run(args.run), settings)
    except (GateError, ValueError) as error:
        print(f"gate: {error}")
        return 2
    print(format_result(result, settings, str(args.baseline)))
    return 1 if result.regressed else 0


if __name__ == "__main__":
    raise SystemExit(main())
