"""Fixtures for the unit tests: tiny generated datasets and a contract small enough for 2 cores."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipelines.datasets.presets import Preset
from pipelines.loaders.contract import Contract
from pipelines.datasets import DatasetIndex, generate, index_dataset

TINY = Preset(name="tiny", images=11, classes=3, sizes=(((64, 48), 0.5), ((40, 56), 0.5)), target_bytes=2500)
SMALL_CONTRACT = Contract(image_size=(32, 32), batch_size=4, shuffle=False)


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
