"""The regression gate: judge a run's cases against a baseline's rounds, beyond the noise, and say when the
machine was too busy to judge at all.

``settings`` (thresholds, the CI gate's cases and rounds), ``reference`` (the paired reference workload that
divides a machine's drift out), ``runs`` (a run's JSON read into each case's rounds), ``judge`` (the comparison
and its verdicts: ``python -m pipelines.gate.judge``), ``ab`` (a baseline and a candidate alternated on one
machine: ``python -m pipelines.gate.ab``), ``campaign`` and ``tally`` (the seeded and unchanged runs behind the
threshold, measured and counted: ``python -m pipelines.gate.campaign``).
"""
