"""Fixtures for the unit tests: tiny generated datasets and a contract small enough for 2 cores."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipelines.datasets.presets import Preset
from pipelines.loaders.contract import Contract
from pipelines.datasets import DatasetIndex, generate, index_dataset

TINY = Preset(name="tiny", images=11, classes=3, sizes=(((64, 48), 0.5), ((40, 56), 0.5)), target_bytes=2500)
SMALL_CONTRACT = Contract(image_size=(32, 32), batch_size=4, shuffle=False)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "needs_loader(name): a test of an optional loader, skipped with its "
                            "install hint where its package is not installed or fails to import")


@pytest.hookimpl(tryfirst=True)  # before the test's fixtures are set up: a skipped test builds nothing
def pytest_runtest_setup(item: pytest.Item) -> None:
    """Skip a test marked ``needs_loader(name)`` (tests/helpers.py) where that loader cannot be built, with the
    reason its cases are skipped with; checked here rather than at collection, which must work whatever is
    installed and import nothing heavy."""
    from pipelines.loaders.registry import LOADER_SPECS

    for mark in item.iter_markers("needs_loader"):
        if missing := LOADER_SPECS[mark.args[0]].missing():
            pytest.skip(missing)


@pytest.fixture(scope="session", autouse=True)
def _children_are_runs_of_their_own():
    """Under pytest-xdist (``tox -e tests`` runs two workers), a worker's environment says it is one; a child a
    test starts (``pytest benchmarks``, a study) is a run of its own, not a worker -- pytest-benchmark would
    otherwise disable its timing there."""
    with pytest.MonkeyPatch.context() as patch:
        for name in ("PYTEST_XDIST_WORKER", "PYTEST_XDIST_WORKER_COUNT", "PYTEST_XDIST_TESTRUNUID"):
            patch.delenv(name, raising=False)
        yield


@pytest.fixture(scope="session", autouse=True)
def _data_root_of_the_tests(tmp_path_factory: pytest.TempPathFactory):
    """``$LOADERBENCH_DATA`` in a temporary folder: what a test generates or converts by default (TFRecord shards
    of the tiny datasets, say) never lands in the user's ``~/.cache``."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("LOADERBENCH_DATA", str(tmp_path_factory.mktemp("loaderbench-data")))
        yield


@pytest.fixture(scope="session")
def tiny_dataset(tmp_path_factory: pytest.TempPathFactory) -> DatasetIndex:
    """11 JPEGs in 3 classes: a batch size of 4 leaves a short last batch. Treat as read-only."""
    folder = tmp_path_factory.mktemp("data") / "tiny"
    generate(TINY, folder, seed=3, progress=False)
    return index_dataset(folder)


@pytest.fixture()
def own_tiny_dataset(tmp_path: Path) -> DatasetIndex:
    """A private copy of the tiny dataset, for tests that change or delete its files."""
    generate(TINY, tmp_path / "tiny", seed=3, progress=False)
    return index_dataset(tmp_path / "tiny")
