"""``python -m pipelines.study``'s settings."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from pipelines.datasets.presets import PRESETS
from pipelines.harness.cases import Case
from pipelines.harness.plan import RoundPlan
from pipelines.limits.session import LimitSettings
from pipelines.loaders.contract import Contract
from pipelines.datasets.options import SIZES
from pipelines.options import Option
from pipelines.values import count, existing_file, names, size
from pipelines.validation import require

#: The study's rows: ImageDataGenerator, tf.data without a cache, with a memory cache and with a file cache --
#: each cache in the study's float32 layout and in uint8 (a quarter of the bytes) -- and Grain's own loader, the
#: one Keras 3 users pick beside them (it caches nothing; measured where the grain extra is installed, else
#: named not measured with its install hint).
STUDY_CASES: tuple[Case, ...] = (
    Case("idg", "none", "float32"),
    Case("tfdata", "none", "uint8"),
    Case("tfdata", "memory", "uint8"),
    Case("tfdata", "memory", "float32"),
    Case("tfdata", "file", "uint8"),
    Case("tfdata", "file", "float32"),
    Case("grain", "none", "uint8"),
)

#: The file in ``--out`` that keeps a measuring run's points until its study.json is written.
CHECKPOINT_NAME = "study.partial.json"

#: The study's rows by case id, as its points name them.
CASES_BY_ID = {case.id: case for case in STUDY_CASES}

HELD_OUT = Option("--held-out", "also measure this size, left out of the fit: the prediction's error", parse=count,
                  metavar="N", default_text="none")
FULL_IMAGES = Option("--full-images", "the size to predict", parse=count, metavar="N",
                     default_text="the preset's full size")
MACHINE_RAM = Option("--machine-ram", "RAM of the machine predicted for, page cache included: what a memory cache "
                     "and the page cache may use at full size", parse=size, metavar="SIZE",
                     default_text="16 GB, or --ram-limit's")
NO_MODEL = Option("--no-model", "loader epochs only: no model in the verdict", parse=None, default=False)
TRAINING = Option("--training", "training columns from model.fit epochs timed at every size (the default with "
                  "--accelerator), or composed from loader and model epochs (the default for the real model)",
                  choices=("measured", "composed"), default_text="")
HELD_OUT_ROUNDS = Option("--held-out-rounds", "timed epochs at the --held-out size (1 for a full-size check)",
                         parse=count, metavar="N", default_text="--rounds")
HELD_OUT_ROWS = Option("--held-out-rows", "measure only these rows at the --held-out size (case ids, e.g. "
                       "tfdata-none-uint8,tfdata-file-uint8): a full-size check in parts", parse=names,
                       metavar="CASE,CASE", default_text="every row")
NO_LEVELS = Option("--no-levels", "skip the parallelism levels (every row on 1, 2, 4, ... cores) and the stage costs",
                   parse=None, default=False)
POINTS = Option("--points", "predict again from a previous run's study.json, measuring nothing: its points, its "
                "MobileNet rate and its device (for another --machine-ram, --accelerator, --full-images, --held-out "
                "among its sizes; the measuring options are refused with it)", parse=existing_file,
                metavar="study.json", default_text="measure")
RESUME = Option("--resume", "go on from the points a stopped run with the same options kept in --out "
                "(study.partial.json; every measuring run keeps one until its study.json is written)", parse=None,
                default=False)


@dataclass(frozen=True)
class StudySettings:
    """``python -m pipelines.study``: the study's table for this machine, predicted at full size.

    Attributes:
        preset: the dataset shape (classes, image sizes, bytes per image) and its full size.
        sizes: the dataset sizes measured to fit each epoch's law (at least two).
        held_out: a size also measured but left out of the fit, to state the prediction's error; ``None``: none.
        full_images: the size predicted (default: the preset's, e.g. 117,266 for ``coco2017``).
        ram_budget: the RAM a memory cache and the page cache may use (bytes; the study's machine had 16 GB).
        accelerator: train on an emulated accelerator of this many images/s; ``None``: the real model, measured
            alone, unless ``model`` is off.
        model: include a model at all (off: loader epochs only).
        training: how the training columns are predicted. ``measured``: ``model.fit`` epochs are timed at every
            size too and fitted by laws of their own; ``composed``: from the loader's epochs and the model's
            alone (:func:`pipelines.study.table.combined_s`). ``None``: measured with an emulated accelerator
            (sleeps: cheap, and where composing was measured wrong: loader and step overlap only partly),
            composed for the real model on a CPU (measured within ~4% there, and training it at every size
            would take longer than the rest of the study).
        rounds: timed rounds per case, epoch kind and fitted size.
        min_round_s: a round at a fitted size runs enough whole epochs to last at least this long (the
            benchmarks' :class:`~pipelines.harness.plan.RoundPlan` calibration): a later epoch of 250-1,000 images
            lasts 0.05-0.3 s, where a round of one epoch moved by a fifth between rounds, and the law through
            those medians carried it 12x (a file cache's later epoch predicted +69% at 12,000 images when its
            1,000-image rounds were 0.18, 0.27 and 0.25 s). The parallelism levels are timed so too, being read
            against the all-cores point of their size. The held-out size's epochs are timed one a round:
            they last seconds, and a calibration epoch would cost a whole one.
        held_out_rounds: timed epochs at the held-out size (``None``: ``rounds``): one is what a full-size check
            of 117,266 images can afford.
        held_out_rows: the rows (case ids) measured at the held-out size (``None``: every row): a full-size check
            of a few rows at a time, since one cold epoch of 117,266 images can take half an hour on slow storage.
        levels: also measure every row on fewer cores (1, 2, 4, ... below all, each in a pinned child) at the
            middle fitted size, and the stages' costs on one thread (:mod:`pipelines.study.levels`).
        seed, data_root: where the generated datasets come from (as for the benchmarks).
        limits: a smaller machine to measure on (``--ram-limit``, ``--read-bandwidth``, ``--run-exceeding``):
            the study runs in a cgroup enforcing them (:mod:`pipelines.limits`).
        contract: the contract every case starts from.
        checkpoint: where the points are kept as they are measured (``study.partial.json`` in ``--out``), so
            that a stopped run loses none (:mod:`pipelines.study.checkpoint`); ``None``: nowhere.
        resume: reuse the points a stopped run kept in ``checkpoint`` (``--resume``).
    """

    preset: str = "coco2017"
    sizes: tuple[int, ...] = SIZES.field()
    held_out: int | None = None
    full_images: int | None = None
    ram_budget: int = 16 * 10**9
    accelerator: float | None = None
    model: bool = True
    training: Literal["measured", "composed"] | None = None
    rounds: int = 3
    min_round_s: float = RoundPlan.min_round_s
    held_out_rounds: int | None = None
    held_out_rows: tuple[str, ...] | None = None
    levels: bool = True
    seed: int = 0
    data_root: Path | None = None
    limits: LimitSettings = LimitSettings()
    contract: Contract = Contract()
    checkpoint: Path | None = None
    resume: bool = False

    def __post_init__(self) -> None:
        require(self.preset in PRESETS, f"--preset must be one of {', '.join(PRESETS)}, got {self.preset!r}")
        require(len(set(self.sizes)) >= 2 and min(self.sizes) >= PRESETS[self.preset].classes,
                 f"--sizes: at least two distinct sizes, each at least the preset's {PRESETS[self.preset].classes} "
                 f"classes, got {self.sizes}")
        require(self.held_out is None or self.held_out not in self.sizes,
                 f"--held-out {self.held_out} is one of the fitted --sizes: a held-out size must be left out")
        require(self.rounds >= 1, f"--rounds must be at least 1, got {self.rounds}")
        require(self.min_round_s >= 0, f"--min-round-s must be >= 0, got {self.min_round_s}")
        require(self.held_out_rounds is None or self.held_out_rounds >= 1,
                f"--held-out-rounds must be at least 1, got {self.held_out_rounds}")
        require(self.held_out_rounds is None or self.held_out is not None,
                "--held-out-rounds times the --held-out size: add --held-out N (or leave --held-out-rounds out)")
        require(self.held_out_rows is None or self.held_out is not None,
                "--held-out-rows chooses rows at the --held-out size: add --held-out N (or leave --held-out-rows out)")
        rows = [case.id for case in STUDY_CASES]
        require(self.held_out_rows is None or set(self.held_out_rows) <= set(rows),
                f"--held-out-rows: case ids among {', '.join(rows)}, got {','.join(self.held_out_rows or ())}")
        require(not self.resume or self.checkpoint is not None, "--resume needs the checkpoint a run keeps in --out")
        require(self.ram_budget > 0, "--machine-ram must be positive")
        require(self.accelerator is None or self.accelerator > 0,
                 f"--accelerator must be a positive rate in images/s, got {self.accelerator}")
        require(self.full_images is None or self.full_images >= 1, "--full-images must be positive")
        require(self.training in (None, "measured", "composed"),
                 f"--training must be measured or composed, got {self.training!r}")

    @property
    def full_size(self) -> int:
        return self.full_images or PRESETS[self.preset].images

    @property
    def measures_training(self) -> bool:
        """Whether training epochs are measured (see ``training``)."""
        if not self.model or self.training == "composed":
            return False
        return self.training == "measured" or self.accelerator is not None

    def measures_row(self, case_id: str, images: int) -> bool:
        """Whether the row ``case_id`` is measured at ``images`` (``held_out_rows`` narrows the held-out size)."""
        return images != self.held_out or self.held_out_rows is None or case_id in self.held_out_rows

    def plan_at(self, images: int) -> RoundPlan:
        """How a point of ``images`` images is timed: ``rounds`` rounds of at least ``min_round_s`` at a fitted
        size; at the held-out size, ``held_out_rounds`` epochs, one a round."""
        if images == self.held_out:
            return RoundPlan(rounds=self.held_out_rounds or self.rounds, min_round_s=0.0)
        return RoundPlan(rounds=self.rounds, min_round_s=self.min_round_s)

    @property
    def levels_images(self) -> int:
        """The size the parallelism levels are measured at: the middle of the fitted sizes."""
        return sorted(self.sizes)[len(self.sizes) // 2]
