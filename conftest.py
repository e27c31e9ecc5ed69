"""Shared pytest options and fixtures (:mod:`benchmarks.plugin`: options in, typed settings and a checked dataset
out), and the tests' hypothesis profile."""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

pytest_plugins = ["benchmarks.plugin"]

# TensorFlow calls are slow and a 2-core machine is small: few examples, no deadline.
settings.register_profile(
    "loaderbench",
    max_examples=8,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "loaderbench"))
