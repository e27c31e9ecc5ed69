"""Which regression a run seeds into its loaders: the variable that says so, and one ``loader=fraction`` of it.

The loaders' seeds (:mod:`pipelines.loaders.seeded`) read it, and so does the gate that rehearses on them (the
campaign's seeded scenarios, its tally); kept apart from the seeds themselves so that reading it imports no
TensorFlow.
"""

from __future__ import annotations

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
