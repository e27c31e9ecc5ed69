"""Shared pytest options and fixtures: command-line options in, typed settings and a checked dataset out."""

from __future__ import annotations

import os

import pytest
from hypothesis import HealthCheck, settings

from pipelines.datasets import DatasetError, DatasetIndex, prepare_dataset
from pipelines.gate.settings import GateRun
from pipelines.harness.settings import BenchSettings, settings_from_options
from pipelines.options import add_options
from pipelines.quiet_start import import_tensorflow

import_tensorflow()  # first, and without its start-up lines: they would hide the tables (pipelines/quiet_start.py)

# TensorFlow calls are slow and a 2-core machine is small: few examples, no deadline.
settings.register_profile(
    "loaderbench",
    max_examples=8,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "loaderbench"))


def pytest_addoption(parser: pytest.Parser) -> None:
    """Every loaderbench option, generated from the settings' own declarations (:mod:`pipelines.options`)."""
    group = parser.getgroup("loaderbench", "loaderbench: dataset and benchmark settings")
    add_options(group.addoption, BenchSettings, GateRun)


@pytest.fixture(scope="session")
def bench_settings(pytestconfig: pytest.Config) -> BenchSettings:
    try:
        return settings_from_options(pytestconfig.getoption)
    except ValueError as error:
        pytest.exit(f"options: {error}", returncode=4)


@pytest.fixture(scope="session")
def dataset_index(bench_settings: BenchSettings) -> DatasetIndex:
    """The run's dataset, generated or checked once per session; a bad one stops the run with its path."""
    s = bench_settings
    try:
        return prepare_dataset(s.dataset, s.preset, s.images, s.seed, s.data_root)
    except DatasetError as error:
        pytest.exit(f"dataset: {error}", returncode=4)
