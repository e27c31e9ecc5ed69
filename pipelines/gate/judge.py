"""The loaderbench regression gate: does a run's case take longer than the baseline's, beyond the noise?

pytest-benchmark's ``--benchmark-compare-fail=min:25%`` compares two numbers, one per run, against a fixed
margin: on a shared VM the margin must cover the machine's drift between runs, so only large regressions fail.
This gate reads what each case recorded instead (:mod:`pipelines.harness.records`):

* **the rounds**, not one number: seconds per epoch of every round, so noise within a run is measured;
* **divided by the paired reference** (:mod:`pipelines.epoch.reference`), timed right after each of the case's rounds
  (the median of those), so the machine's drift between runs -- the same for both workloads -- cancels (runs
  with ``--paired-reference``);
* **an effect threshold and a rank test**: a case regresses when its normalised median is more than
  ``threshold`` slower and a one-sided Mann-Whitney test of its rounds (as timed, this run's divided by the
  whole run's drift, :func:`machine_drift`) agrees at ``alpha`` shared over the cases (see
  :class:`~pipelines.gate.settings.GateSettings`); a bootstrap interval of the normalised ratio of medians is printed
  beside it.

Runs (read by :mod:`pipelines.gate.runs`) compare only when they ran on the same kind of machine
(:data:`~pipelines.gate.runs.IDENTITY_KEYS`); otherwise the gate says what differs and fails (or warns, by
option) rather than comparing apples with pears.

A gate that cannot judge says so; it never passes what it could not judge:

* **inconclusive** (exit :data:`INCONCLUSIVE_EXIT`, distinct from a regression): a case whose rounds, in either
  run, had the machine shared -- other processes or the hypervisor took more than ``max_shared_cores`` of it
  (:mod:`pipelines.harness.contention`) -- or every case of a run whose paired reference, over the run, moved more than
  ``max_reference_drift`` from the baseline's, beyond what normalisation was shown to correct. One line says
  why; rerun on a quiet machine.
* **refused** (:class:`GateError`): rounds too few for the rank test to reach ``alpha`` over the cases judged
  (the rounds needed are named), no case in common, no baseline, runs from different machines; runs that timed
  other work -- another dataset (name, images, bytes, classes), contract (batch size, image size,
  parallelism...) or model (:func:`~pipelines.gate.runs.workload_mismatch`) -- and a run that did not measure
  every case of the baseline (:func:`check_case_sets`): a case of the same name on other work, or no case at
  all, is no evidence of anything. A case new in this run is listed, not judged.

    python -m pipelines.gate.judge BASELINE.json RUN.json [--gate-threshold 0.10] [--gate-mismatch warn]
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from pipelines.gate.runs import (
    SAVE_BASELINE,
    CaseRounds,
    GateError,
    RunRounds,
    identity_mismatch,
    load_run,
    refuse_other_work,
    workload_mismatch,
)
from pipelines.gate.settings import GateSettings
from pipelines.options import Option, add_options, command_parser, settings_from
from pipelines.values import existing_file

#: Exit status of a gate that could not judge (the machine was shared): not 0 (a pass), not 1 (a regression),
#: and none of pytest's own (0-5), so a CI step can tell "rerun" from "fix".
INCONCLUSIVE_EXIT = 6


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
    inconclusive: str | None = None

    def describe(self, settings: GateSettings) -> str:
        kind = "drift-normalised" if self.normalised else "raw seconds"
        return (f"{self.case}: {self.ratio:.3f}x the baseline's epoch time "
                f"[{settings.confidence:.0%} CI {self.low:.3f}-{self.high:.3f}], rank test p={self.p_value:.2g}; "
                f"gate: slower than {1 + settings.threshold:.2f}x at p < {settings.alpha:g}/cases ({kind})")


def compare_case(base: CaseRounds, head: CaseRounds, settings: GateSettings, cases: int = 1,
                 drift: float | None = None) -> CaseVerdict:
    """Judge one case (see the module docstring); ``cases``: how many share the gate's ``alpha``; ``drift``: the
    run's :func:`machine_drift` (``None``: this case's own, or none without a paired reference)."""
    from scipy import stats  # here: seconds to import, and a command's --help needs none of it

    normalise = base.normalisable and head.normalisable
    before, after = base.samples(normalise), head.samples(normalise)
    ratio = float(np.median(after) / np.median(before))
    if drift is None:
        drift = machine_drift({head.case: base}, {head.case: head})
    # The rank test reads the rounds as timed, this run's divided by one number, the whole run's drift: every
    # round then shares that number's error, but it is pooled over every case's reference rounds, a fraction of
    # one round's noise. (Divided by each case's own reference median, the rounds would share that median's
    # error, a shift the test calls significant; as timed, without the division, a machine faster than at the
    # baseline hides a regression of about the same size from it.) The threshold is judged on the
    # case's own normalised ratio.
    p_value = float(stats.mannwhitneyu(head.samples(False) / (drift or 1.0), base.samples(False),
                                       alternative="greater").pvalue)
    if len(before) > 1 and len(after) > 1:
        interval = stats.bootstrap(
            (before, after), lambda b, a, axis=-1: np.median(a, axis=axis) / np.median(b, axis=axis),
            n_resamples=settings.resamples, confidence_level=settings.confidence, method="percentile",
            rng=np.random.default_rng(0), vectorized=True,
        ).confidence_interval
        low, high = float(interval.low), float(interval.high)
    else:
        low = high = ratio
    why = unjudgeable(base, head, settings, drift)
    regressed = why is None and ratio > 1 + settings.threshold and p_value < settings.alpha / max(1, cases)
    return CaseVerdict(head.case, ratio, low, high, p_value, normalise, regressed, why)


def machine_drift(base: Mapping[str, CaseRounds], head: Mapping[str, CaseRounds]) -> float | None:
    """How much slower the whole machine ran for ``head`` than for ``base``: the median, over the cases both
    paired with the reference, of the ratio of their reference medians; ``None`` with no such case."""
    ratios = [float(np.median(head[key].paired) / np.median(base[key].paired)) for key in head
              if key in base and head[key].normalisable and base[key].normalisable]
    return float(np.median(ratios)) if ratios else None


def unjudgeable(base: CaseRounds, head: CaseRounds, settings: GateSettings, drift: float | None) -> str | None:
    """Why the two runs' rounds of a case cannot be judged, in one line; ``None`` when they can."""
    if head.shared_cores is None or base.shared_cores is None:
        side = "this run" if head.shared_cores is None else "the baseline"
        return (f"{side} did not record how much of the machine it had (saved by an older loaderbench): save a "
                f"new baseline with `{SAVE_BASELINE}`")
    for side, rounds, other_side, other, rerun in (("this run", head, "baseline", base, "it"),
                                                   ("the baseline", base, "this run", head, "the baseline")):
        if rounds.shared_cores > settings.max_shared_cores:
            return (f"the machine was shared: {rounds.free_cores:.1f} of {rounds.cores} cores free for {side} "
                    f"({other_side}: {other.free_cores:.1f}); other processes took more than the "
                    f"{settings.max_shared_cores:g} cores the gate allows -- rerun {rerun} on a quiet machine")
    if drift is not None and not 1 / (1 + settings.max_reference_drift) <= drift <= 1 + settings.max_reference_drift:
        return (f"the paired reference ran {drift:.2f}x the baseline's over the run: the machine changed by more "
                f"than the {settings.max_reference_drift:.0%} normalisation was shown to correct -- rerun on a "
                "quiet machine, or save a new baseline if the machine itself changed")
    return None


def min_p_value(base_rounds: int, head_rounds: int) -> float:
    """The smallest p the one-sided rank test can give for these round counts (every head round slower than
    every baseline round), computed by the same scipy call the gate makes."""
    from scipy import stats

    return float(stats.mannwhitneyu(np.arange(head_rounds) + base_rounds, np.arange(base_rounds),
                                    alternative="greater").pvalue)


def rounds_needed(cases: int, alpha: float) -> int:
    """The fewest rounds per run (the same in both) at which the rank test can reach ``alpha / cases``."""
    rounds = 2
    while min_p_value(rounds, rounds) >= alpha / max(1, cases):
        rounds += 1
    return rounds


def check_round_counts(base: RunRounds, head: RunRounds, shared: Sequence[str], settings: GateSettings) -> None:
    """Refuse a comparison whose rank test could never fail a case: too few rounds for ``alpha`` over the cases
    (at 3 rounds a side the exact test cannot go below p = 0.05)."""
    for key in shared:
        b, h = len(base.cases[key].seconds), len(head.cases[key].seconds)
        floor = min_p_value(b, h)
        if floor >= settings.alpha / len(shared):
            needed = rounds_needed(len(shared), settings.alpha)
            raise GateError(
                f"too few rounds to judge {key}: {b} in the baseline and {h} in this run, where the rank test "
                f"cannot go below p = {floor:.2g}, not under alpha / cases = {settings.alpha:g} / {len(shared)} "
                f"-- every case would pass; run at least {needed} rounds per case in both runs (--rounds "
                f"{needed}; --training-rounds for training cases), as `{SAVE_BASELINE}` and `tox -e bench-gate` do"
            )


def check_case_sets(base: RunRounds, head: RunRounds) -> None:
    """Refuse a run that did not measure every case of the baseline (skipped, failed, deselected): judged on
    the rest alone it would pass a case it never measured. Cases new in this run are judged by nothing, and
    listed as such (:func:`format_result`)."""
    missing = sorted(set(base.cases) - set(head.cases))
    if missing:
        named = [f"{key} ({head.incomplete[key]})" if key in head.incomplete else key for key in missing]
        raise GateError(f"the baseline {base.source} has {len(missing)} case(s) that {head.source} did not measure "
                        f"(skipped, failed or deselected): {', '.join(named)} -- a gate judging only the others "
                        "would pass what it never measured: run the baseline's selection, or save a new baseline "
                        f"with `{SAVE_BASELINE}`")


@dataclass
class GateResult:
    """Every case both runs measured, judged; what could not be compared is listed, not hidden (a baseline
    case this run lacks is refused before, by :func:`check_case_sets`). ``incomplete``: a line for each case of
    either run left out because an epoch lost images (:mod:`pipelines.harness.complete`)."""

    verdicts: list[CaseVerdict] = field(default_factory=list)
    only_in_head: list[str] = field(default_factory=list)
    mismatch: list[str] = field(default_factory=list)
    unrecorded: list[str] = field(default_factory=list)
    incomplete: list[str] = field(default_factory=list)

    @property
    def regressed(self) -> list[CaseVerdict]:
        return [v for v in self.verdicts if v.regressed]

    @property
    def inconclusive(self) -> list[CaseVerdict]:
        return [v for v in self.verdicts if v.inconclusive]

    @property
    def exit_status(self) -> int:
        """1 if a case regressed; :data:`INCONCLUSIVE_EXIT` if none did but one could not be judged; else 0."""
        return 1 if self.regressed else (INCONCLUSIVE_EXIT if self.inconclusive else 0)


def compare_runs(base: RunRounds, head: RunRounds, settings: GateSettings) -> GateResult:
    """Judge every case both runs have. Raises :class:`GateError` on a machine mismatch when the settings say
    ``fail`` (with ``warn`` the differences are kept in the result and printed, as is a dataset or contract one
    side did not record); always when the cases timed other work, or the baseline has a case this run lacks."""
    mismatch = identity_mismatch(base, head)
    if mismatch and settings.mismatch == "fail":
        raise GateError(f"the baseline {base.source} ran on another machine or software ({'; '.join(mismatch)}): "
                        f"its times do not apply here. Save a baseline on this machine with `{SAVE_BASELINE}`, "
                        "or compare anyway with --gate-mismatch warn")
    shared = [key for key in head.cases if key in base.cases]
    if not shared:
        measured = [*sorted(head.cases), *(f"{key} left out: {why}" for key, why in sorted(head.incomplete.items()))]
        raise GateError(f"no case in common between the baseline {base.source} ({', '.join(sorted(base.cases))}) "
                        f"and {head.source} ({', '.join(measured) or 'no case with rounds'}): nothing was "
                        "compared -- run the baseline's selection, or save a new baseline")
    differences, unrecorded = workload_mismatch(base, head, shared)
    if differences or (unrecorded and settings.mismatch == "fail"):
        raise refuse_other_work(base, differences + unrecorded, head.source)
    check_case_sets(base, head)
    check_round_counts(base, head, shared, settings)
    result = GateResult(mismatch=mismatch, unrecorded=unrecorded,
                        only_in_head=sorted(set(head.cases) - set(base.cases) - set(base.incomplete)),
                        incomplete=[f"{key}: not judged, {reason} in {side}: its times are no throughput"
                                    for side, run in (("this run", head), ("the baseline", base))
                                    for key, reason in sorted(run.incomplete.items())])
    drift = machine_drift(base.cases, head.cases)
    result.verdicts = [compare_case(base.cases[key], head.cases[key], settings, len(shared), drift)
                       for key in shared]
    return result


def format_result(result: GateResult, settings: GateSettings, base_source: str) -> str:
    """The table a person reads, then one line per regression (case, ratio, interval, threshold)."""
    lines = [f"loaderbench gate against {base_source}: fails a case slower than {1 + settings.threshold:.2f}x "
             f"with rank-test p < {settings.alpha:g} over {len(result.verdicts)} cases"]
    for difference in result.mismatch:
        lines.append(f"WARNING: baseline from another machine or software: {difference}")
    for difference in result.unrecorded:
        lines.append(f"WARNING: not compared, one side did not record it: {difference}")
    width = max((len(v.case) for v in result.verdicts), default=4)
    lines.append(f"{'case':<{width}}  {'ratio':>6}  {settings.confidence:.0%} CI        {'p':>7}  verdict")
    for v in result.verdicts:
        verdict = "REGRESSED" if v.regressed else "inconclusive" if v.inconclusive else (
            "faster" if v.high < 1 else "ok")
        lines.append(f"{v.case:<{width}}  {v.ratio:6.3f}  {v.low:.3f}-{v.high:.3f}  {v.p_value:7.2g}  {verdict}"
                     + ("" if v.normalised else "  (raw: no paired reference)"))
    for key in result.only_in_head:
        lines.append(f"{key}: new in this run, not judged: no baseline")
    lines.extend(result.incomplete)
    for v in result.regressed:
        lines.append("REGRESSED " + v.describe(settings))
    for v in result.inconclusive:
        lines.append(f"INCONCLUSIVE {v.case}: {v.inconclusive}")
    if result.inconclusive and not result.regressed:
        lines.append(f"gate inconclusive: {len(result.inconclusive)} of {len(result.verdicts)} cases could not be "
                     f"judged (exit {INCONCLUSIVE_EXIT}) -- not a pass: rerun when the machine is not shared")
    elif not result.regressed:
        lines.append("gate passed: no case regressed")
    return "\n".join(lines)


BASELINE = Option("baseline", "the baseline run's JSON (--benchmark-json)", parse=existing_file,
                  metavar="BASELINE.json", default_text="")
RUN = Option("run", "the run to judge, same format", parse=existing_file, metavar="RUN.json", default_text="")


PROG = "python -m pipelines.gate.judge"


def main(argv: Sequence[str] | None = None) -> int:
    """Exit status: 0 passed, 1 a case regressed, 2 no comparison possible (the message says why),
    :data:`INCONCLUSIVE_EXIT` no case regressed but one could not be judged."""
    parser = command_parser(PROG, __doc__)
    add_options(parser.add_argument, BASELINE, RUN)
    add_options(parser.add_argument, GateSettings)
    args = parser.parse_args(argv)
    try:
        settings = settings_from(GateSettings, args)
        result = compare_runs(load_run(args.baseline), load_run(args.run), settings)
    except (GateError, ValueError) as error:  # the gate's own refusal, on its output as its verdicts are
        print(f"gate: {error}")
        return 2
    print(format_result(result, settings, str(args.baseline)))
    return result.exit_status


if __name__ == "__main__":
    raise SystemExit(main())
