"""The suite's pytest plugin, shared by the benchmarks and the tests: command-line options in, typed settings and a
checked dataset out, and the suite's markers. The root ``conftest.py`` registers it in this repository;
``loaderbench`` (:mod:`benchmarks.cli`) registers it where the suite is installed."""

from __future__ import annotations

import pytest

from pipelines.datasets import DatasetError, DatasetIndex, prepare_dataset
from pipelines.gate.settings import GateRun
from pipelines.harness.settings import BenchSettings, settings_from_options
from pipelines.loaders.registry import OWN_LOADERS, REFUSED_LOADERS
from pipelines.options import add_options
from pipelines.quiet_start import import_tensorflow

import_tensorflow()  # first, and without its start-up lines: they would hide the tables (pipelines/quiet_start.py)

#: The suite's markers (``--strict-markers`` refuses any other).
MARKERS = (
    "exceeds_ram: an in-memory cache case predicted not to fit the RAM budget (skipped before it runs)",
    "exceeds_disk: a file cache case predicted not to fit the free disk space (skipped before it runs)",
    "run_exceeding: a memory cache case predicted not to fit --ram-limit, run anyway under it (--run-exceeding)",
    "slow: a test that decodes a real dataset or trains a model",
    "extended: a benchmark case of the extended group (TFRecord, snapshot, save/load, tf.data service, Grain); runs "
    "with --extended",
)


def pytest_addoption(parser: pytest.Parser) -> None:
    """Every loaderbench option, generated from the settings' own declarations (:mod:`pipelines.options`)."""
    group = parser.getgroup("loaderbench", "loaderbench: dataset and benchmark settings")
    add_options(group.addoption, BenchSettings, GateRun)


def pytest_configure(config: pytest.Config) -> None:
    for marker in MARKERS:
        config.addinivalue_line("markers", marker)


def pytest_report_header(config: pytest.Config) -> list[str]:
    """The loaders declared outside this package (:mod:`pipelines.loaders.declared`), and those left out (why)."""
    return [f"loaderbench: own loader {s.name} ({s.module}:{s.builder}"
            + (", its own augmentation: pixels not compared)" if s.augmented else ")") for s in OWN_LOADERS.values()
            ] + [f"loaderbench: {refused.line()}" for refused in REFUSED_LOADERS]


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
