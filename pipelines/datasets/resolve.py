"""One entry point from options to a checked dataset: a user's folder, or a generated preset."""

from __future__ import annotations

from pathlib import Path

from pipelines.datasets.presets import DEFAULT_PRESET, PRESETS, default_data_root
from pipelines.datasets.generate import dataset_folder_name, generate
from pipelines.datasets.validate import DatasetError, DatasetIndex, index_dataset, validate_dataset


def prepare_dataset(
    dataset: Path | str | None = None,
    preset: str = DEFAULT_PRESET,
    images: int | None = None,
    seed: int = 0,
    data_root: Path | None = None,
    progress: bool = True,
) -> DatasetIndex:
    """The dataset a run uses, checked before anything is timed.

    A user's folder (``dataset``) is decoded in full once, since nothing vouches for it. A generated preset
    (scaled to ``images`` if given) is made or reused under ``data_root``; its manifest vouches for it.
    """
    if dataset is not None:
        return validate_dataset(dataset, deep=True, progress=progress)
    if preset not in PRESETS:
        raise DatasetError(f"unknown preset {preset!r}: choose one of {', '.join(PRESETS)}")
    try:
        shape = PRESETS[preset].scaled(images)
    except ValueError as error:
        raise DatasetError(f"--images {images}: {error}") from None
    folder = (data_root or default_data_root()) / dataset_folder_name(shape, seed)
    generate(shape, folder, seed=seed, progress=progress)
    return index_dataset(folder)


def count_images(dataset: Path | str | None, preset: str, images: int | None) -> int:
    """How many images a run will read, without generating or decoding anything (for planning and marking)."""
    if dataset is not None:
        return index_dataset(dataset).images
    if preset not in PRESETS:
        raise DatasetError(f"unknown preset {preset!r}: choose one of {', '.join(PRESETS)}")
    return PRESETS[preset].scaled(images).images
