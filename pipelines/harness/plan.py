"""How a case is timed: rounds of whole epochs, each lasting at least a minimum."""

from __future__ import annotations

import math
from dataclasses import dataclass

from pipelines.options import Option
from pipelines.values import count, non_negative

ROUNDS = Option("--rounds", "timed rounds a case; their spread is printed next to each figure", parse=count,
                default=3, metavar="N")
MIN_ROUND_S = Option("--min-round-s", "a round runs enough whole epochs to last at least this long (seconds)",
                     parse=non_negative, default=0.5, metavar="SECONDS")
MAX_EPOCHS_PER_ROUND = Option("--max-epochs-per-round", "ceiling on the epochs in one round, for tiny datasets",
                              parse=count, default=1000, metavar="N")


@dataclass(frozen=True)
class RoundPlan:
    """How a case is timed.

    Attributes:
        rounds: timed rounds; their spread is the case's noise figure.
        min_round_s: a round runs enough whole epochs to last at least this long (calibrated once per case).
            0.5 s: longer rounds did not narrow the spread of three rounds on the default run (``pytest
            benchmarks -k throughput --min-round-s S`` compares them: each case's ``spread``), as for the
            gate's rounds; training epochs last longer than a round anyway.
        max_epochs_per_round: a ceiling on that count, for very small datasets.
    """

    rounds: int = ROUNDS.field()
    min_round_s: float = MIN_ROUND_S.field()
    max_epochs_per_round: int = MAX_EPOCHS_PER_ROUND.field()

    def __post_init__(self) -> None:
        if self.rounds < 1 or self.min_round_s < 0 or self.max_epochs_per_round < 1:
            raise ValueError(f"rounds and max_epochs_per_round must be >= 1, min_round_s >= 0: {self}")

    def epochs_per_round(self, epoch_s: float) -> int:
        """Whole epochs of ``epoch_s`` seconds that last at least ``min_round_s`` (1 .. the ceiling)."""
        if epoch_s <= 0:
            return self.max_epochs_per_round
        return max(1, min(self.max_epochs_per_round, math.ceil(self.min_round_s / epoch_s)))


