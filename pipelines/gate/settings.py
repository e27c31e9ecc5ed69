"""The regression gate's settings and the cases and rounds the CI gate runs."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from pipelines.validation import require

#: The environment variable that seeds a regression into a loader (``tfdata=0.15``,
#: :mod:`pipelines.loaders.seeded`): the gate's own proof, and the campaign's seeded scenarios.
REGRESSION_VARIABLE = "LOADERBENCH_REGRESSION"


def seed_part(part: str) -> tuple[str, float]:
    """One ``loader=fraction`` of :data:`REGRESSION_VARIABLE`'s value: ``("tfdata", 0.15)``; ValueError when the
    fraction is not a number in [0, 1]. The loaders' seeds and the campaign's scenarios read it alike."""
    name, _, value = part.partition("=")
    try:
        fraction = float(value)
    except ValueError:
        fraction = -1.0
    if not 0.0 <= fraction <= 1.0:
        raise ValueError(f"{REGRESSION_VARIABLE}: expected loader=fraction with a fraction in [0, 1], "
                         f"e.g. tfdata=0.15, got {part!r}")
    return name, fraction


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
            the drift left between runs over an hour after normalisation: on a 2-core VM (TensorFlow 2.21,
            CPU only) the unchanged cases' drift-normalised ratios reached 1.093x at the 99th percentile (largest
            1.12x) over 260 comparisons, hence 10%, while a seeded ~15% regression (``tfdata=0.15``) failed 9
            runs in 10. ``python -m pipelines.gate.campaign OUT --cycles 10`` (:mod:`pipelines.gate.campaign`)
            measures those runs and prints these figures: the table and its noise line.
        alpha: false-alarm rate of the rank test over all cases of a comparison.
        confidence: of the bootstrap interval printed next to each ratio.
        resamples: bootstrap resamples (seeded, so a comparison prints the same interval twice).
        mismatch: ``fail`` or ``warn`` when the baseline ran on another CPU, core count, TensorFlow or Python.
        max_shared_cores: cores' worth of CPU that other processes and the hypervisor may take during a case's
            rounds, in either run, for the case to be judged; above it the case is inconclusive
            (:mod:`pipelines.harness.contention`). Normalisation by the paired reference corrects a machine slower as a
            whole, not a neighbour on one core (``bash examples/busy-neighbour.sh OUT``, a campaign with a busy
            loop: 0.76-1.26 cores taken). A quiet 2-core VM reads 0.00-0.05.
        max_reference_drift: how far the paired reference's median may move from the baseline's (as a fraction)
            for normalisation to be trusted: the drift it was shown to correct was 10-30%, hence 30%.
    """

    threshold: float = 0.10
    alpha: float = 0.01
    confidence: float = 0.95
    resamples: int = 2000
    mismatch: Literal["fail", "warn"] = "fail"
    max_shared_cores: float = 0.25
    max_reference_drift: float = 0.30

    def __post_init__(self) -> None:
        require(0 <= self.threshold < 1, f"--gate-threshold must be in [0, 1), got {self.threshold}")
        require(0 < self.alpha < 1, f"gate alpha must be in (0, 1), got {self.alpha}")
        require(0 < self.confidence < 1, f"gate confidence must be in (0, 1), got {self.confidence}")
        require(self.mismatch in ("fail", "warn"), f"--gate-mismatch must be fail or warn, got {self.mismatch!r}")
        require(self.max_shared_cores >= 0, f"--gate-max-shared-cores must be >= 0, got {self.max_shared_cores}")
        require(self.max_reference_drift > 0,
                 f"gate max reference drift must be positive, got {self.max_reference_drift}")


#: The cases and rounds the CI gate runs (tox -e bench-baseline / bench-gate, ``python -m pipelines.gate.ab``): the
#: no-cache throughput cases (each loader's own read/decode path; cached warm epochs skip it) except the
#: ImageDataGenerator worker-process variant (0.4 s epochs, the slowest case, no path of its own to guard), in
#: rounds short enough for 7 of them, each followed by the paired reference.
GATE_PYTEST_ARGS: tuple[str, ...] = (
    "-k", "throughput and none and not processes", "--rounds", "7", "--min-round-s", "0.5", "--paired-reference",
)


