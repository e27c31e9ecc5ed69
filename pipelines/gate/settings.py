"""The regression gate's settings and the cases and rounds the CI gate runs."""

from __future__ import annotations

from dataclasses import dataclass, fields
from pathlib import Path
from typing import Literal

from pipelines.options import Option
from pipelines.values import existing_file, fraction, non_negative
from pipelines.validation import require

def baseline_file(text: str) -> Path:
    """A baseline run's JSON that exists; where none does, how to save one."""
    try:
        return existing_file(text)
    except ValueError as error:
        if not str(text).strip() or Path(text).expanduser().exists():
            raise
        raise ValueError(f"no baseline at {text}: save one first with `tox -e bench-baseline`") from error


GATE_BASELINE = Option("--gate-baseline", "judge this run against a baseline run's JSON (--benchmark-json) with the "
                       "loaderbench gate; a regressed case fails the session (docs/gate.md)", parse=baseline_file,
                       metavar="RUN.json", default_text="no gate")
GATE_THRESHOLD = Option("--gate-threshold", "gate: smallest slowdown that fails, as a share (0.10 = 10%)",
                        parse=fraction, default=0.10, metavar="SHARE")
GATE_MISMATCH = Option("--gate-mismatch", "gate: a baseline from another CPU, core count, TensorFlow or Python: "
                       "fail or warn", default="fail", choices=("fail", "warn"))
GATE_MAX_SHARED_CORES = Option("--gate-max-shared-cores", "gate: cores' worth of CPU other processes may take during "
                               "a case's rounds before the case is inconclusive", parse=non_negative, default=0.25,
                               metavar="CORES")


def _false_alarm_rate(text: str) -> float:
    """A share above 0 and below 1 (``0.01``)."""
    try:
        value = fraction(text)
    except ValueError:
        value = 0.0
    if value <= 0:
        raise ValueError(f"a share above 0 and below 1, e.g. 0.01 for 1%, got {text!r}")
    return value


#: The rank test's false-alarm rate (``--alpha`` is MobileNet's width multiplier).
GATE_ALPHA = Option("--gate-alpha", "gate: false-alarm rate of the rank test over all cases", parse=_false_alarm_rate,
                    default=0.01, metavar="SHARE")

@dataclass(frozen=True)
class GateSettings:
    """The loaderbench gate (:mod:`pipelines.gate.judge`): how a case is judged regressed.

    A case regresses when its median epoch (its rounds divided by the median of their paired reference rounds,
    when both runs have them) is more than ``threshold`` slower than the baseline's **and** a one-sided
    Mann-Whitney test of its rounds (as timed, this run's divided by the whole run's drift) says they are slower
    at ``alpha`` shared out over the cases
    compared (Bonferroni): rounds that differ only by noise fail a comparison of ten cases at most ``alpha`` of
    the time.

    Attributes:
        threshold: smallest slowdown that can fail (0.10 = 10%). It covers what no test within one run can see,
            the drift left between runs over an hour after normalisation: the unchanged cases' drift-normalised
            ratios at their 99th percentile, while a seeded ~15% regression (``tfdata=0.15``) still fails.
            ``python -m pipelines.gate.campaign OUT --cycles 10`` (:mod:`pipelines.gate.campaign`) measures
            those runs and prints both: the table and its noise line (docs/results.md).
        alpha: false-alarm rate of the rank test over all cases of a comparison.
        confidence: of the bootstrap interval printed next to each ratio.
        resamples: bootstrap resamples (seeded, so a comparison prints the same interval twice).
        mismatch: ``fail`` or ``warn`` when the baseline ran on another CPU, core count, TensorFlow or Python.
        max_shared_cores: cores' worth of CPU that other processes and the hypervisor may take during a case's
            rounds, in either run, for the case to be judged; above it the case is inconclusive
            (:mod:`pipelines.harness.contention`). Normalisation by the paired reference corrects a machine slower as a
            whole, not a neighbour on one core (``bash examples/busy-neighbour.sh OUT``, a campaign with a busy
            loop, shows both: a busy loop reads as about a core taken, a quiet machine as almost none).
        max_reference_drift: how far the paired reference's median may move from the baseline's (as a fraction)
            for normalisation to be trusted: at most the largest drift it was shown to correct (docs/gate.md).
    """

    threshold: float = GATE_THRESHOLD.field()
    alpha: float = GATE_ALPHA.field()
    confidence: float = 0.95
    resamples: int = 2000
    mismatch: Literal["fail", "warn"] = GATE_MISMATCH.field()
    max_shared_cores: float = GATE_MAX_SHARED_CORES.field()
    max_reference_drift: float = 0.30

    def __post_init__(self) -> None:
        require(0 <= self.threshold < 1, f"--gate-threshold must be in [0, 1), got {self.threshold}")
        require(0 < self.alpha < 1, f"gate alpha must be in (0, 1), got {self.alpha}")
        require(0 < self.confidence < 1, f"gate confidence must be in (0, 1), got {self.confidence}")
        require(self.mismatch in ("fail", "warn"), f"--gate-mismatch must be fail or warn, got {self.mismatch!r}")
        require(self.max_shared_cores >= 0, f"--gate-max-shared-cores must be >= 0, got {self.max_shared_cores}")
        require(self.max_reference_drift > 0,
                 f"gate max reference drift must be positive, got {self.max_reference_drift}")


@dataclass(frozen=True)
class GateRun:
    """A benchmark session judged by the gate (``--gate-baseline`` and the gate's options under pytest).

    Attributes:
        gate_baseline: the baseline run this one is judged against; ``None``: no gate.
        gate: how a case is judged. Anything but its defaults needs ``gate_baseline``: without it no gate runs.
    """

    gate_baseline: Path | None = GATE_BASELINE.field()
    gate: GateSettings = GateSettings()

    def __post_init__(self) -> None:
        for field in fields(GateSettings):
            option = field.metadata.get("option")
            if option is None:  # not an option of the command line: set in code only
                continue
            require(self.gate_baseline is not None or getattr(self.gate, field.name) == field.default,
                    f"{option.flag} configures the loaderbench gate, which runs only with --gate-baseline: "
                    f"add --gate-baseline PATH (or leave {option.flag} out)")


#: The cases and rounds the CI gate runs (tox -e bench-baseline / bench-gate, ``python -m pipelines.gate.ab``): the
#: no-cache throughput cases (each loader's own read/decode path; cached warm epochs skip it) except the
#: ImageDataGenerator worker-process variant (the slowest case, no path of its own to guard), in
#: rounds short enough for 7 of them, each followed by the paired reference.
GATE_PYTEST_ARGS: tuple[str, ...] = (
    "-k", "throughput and none and not processes", "--rounds", "7", "--min-round-s", "0.5", "--paired-reference",
)


