"""The dataset options, declared once (:mod:`pipelines.options`): which images a command reads or makes."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from pipelines.datasets.presets import DEFAULT_PRESET, PRESETS
from pipelines.options import Option
from pipelines.values import count, counts, existing_folder, natural, writable_folder
from pipelines.validation import require

DATASET = Option("--dataset", "your own class-per-folder image tree, checked before anything is timed (nothing in "
                 "it is written)", parse=existing_folder, metavar="FOLDER",
                 default_text="a generated --preset")
PRESET = Option("--preset", "generated dataset shape when --dataset is not given", default=DEFAULT_PRESET,
                choices=tuple(sorted(PRESETS)))
IMAGES = Option("--images", "scale the preset to N images (same classes, sizes and bytes an image)", parse=count,
                metavar="N", default_text="the preset's own count")
SEED = Option("--seed", "the dataset generator's seed", parse=natural, default=0, metavar="N")
DATA_ROOT = Option("--data-root", "where generated datasets are kept", parse=writable_folder, metavar="FOLDER",
                   default_text="$LOADERBENCH_DATA or ~/.cache/loaderbench/datasets")
SIZES = Option("--sizes", "dataset sizes to measure, in images, comma-separated", parse=counts,
               default=(250, 500, 1000), metavar="N,N,...", default_text="250,500,1000")
WORKERS = Option("--workers", "processes that write a generated dataset", parse=count, metavar="N",
                 default_text="one a core")


@dataclass(frozen=True)
class DatasetChoice:
    """Which dataset a run reads: a user's folder, or a generated preset.

    Attributes:
        dataset: a user's own class-per-folder tree; ``None`` generates ``preset`` instead.
        preset: generated dataset shape (see :data:`PRESETS`).
        images: scale the preset to this many images; ``None``: the preset's own count.
        seed: generator seed.
        data_root: where generated datasets are kept (``None``: :func:`default_data_root`).
    """

    dataset: Path | None = DATASET.field()
    preset: str = PRESET.field()
    images: int | None = IMAGES.field()
    seed: int = SEED.field()
    data_root: Path | None = DATA_ROOT.field()

    def __post_init__(self) -> None:
        require(self.preset in PRESETS, f"--preset must be one of {', '.join(PRESETS)}, got {self.preset!r}")
        try:
            PRESETS[self.preset].scaled(self.images)  # the preset's own check: one image a class at least
        except ValueError as error:
            raise ValueError(f"--images {self.images}: {error}") from None
        # Combinations that would do nothing (an option read by nothing this run does): refused, not ignored.
        require(self.dataset is None or self.images is None,
                "--images scales a generated preset; it cannot be combined with --dataset")
        require(self.dataset is None or self.preset == DEFAULT_PRESET,
                "--preset shapes a generated dataset; it cannot be combined with --dataset: leave --preset out")
        require(self.dataset is None or self.seed == 0,
                "--seed seeds the dataset generator; it cannot be combined with --dataset: leave --seed out")
