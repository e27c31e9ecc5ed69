"""``python -m pipelines.study``'s rows, options and settings."""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

from pipelines.datasets.options import SIZES
from pipelines.datasets.presets import PRESETS
from pipelines.harness.cases import Case
from pipelines.harness.plan import RoundPlan
from pipelines.limits.session import LimitSettings
from pipelines.loaders.contract import Contract
from pipelines.memory.predict import RAM_BUDGET
from pipelines.options import Option
from pipelines.validation import require
from pipelines.values import count, existing_file, names

#: The study's rows: ImageDataGenerator, tf.data without a cache, with a memory cache and with a file cache --
#: each cache in float32 (the study's layout) and in uint8 (a quarter of the bytes) -- and Grain's own loader
#: (measured where the grain extra is installed, else named not measured with its install hint).
STUDY_CASES: tuple[Case, ...] = (
    Case("idg", "none", "float32"), Case("tfdata", "none", "uint8"), Case("tfdata", "memory", "uint8"),
    Case("tfdata", "memory", "float32"), Case("tfdata", "file", "uint8"), Case("tfdata", "file", "float32"),
    Case("grain", "none", "uint8"))
CASES_BY_ID = {case.id: case for case in STUDY_CASES}

#: The file in ``--out`` that keeps a measuring run's points until its study.json is written.
CHECKPOINT_NAME = "study.partial.json"

HELD_OUT = Option("--held-out", "also measure this size, left out of the fit, and count how many of its epochs "
                  "fall inside their predicted interval", parse=count, metavar="N", default_text="none")
FULL_IMAGES = Option("--full-images", "the size to predict", parse=count, metavar="N",
                     default_text="the preset's full size")
STUDY_RAM = replace(RAM_BUDGET, help="RAM of the machine predicted for, page cache included: what a memory cache "
                    "and the page cache may use at full size", default_text="16 GB, or --ram-limit's")
NO_MODEL = Option("--no-model", "loader epochs only: no model in the verdict", parse=None, default=False)
HELD_OUT_ROUNDS = Option("--held-out-rounds", "timed epochs at the --held-out size", parse=count, metavar="N",
                         default_text="--rounds")
HELD_OUT_ROWS = Option("--held-out-rows", "measure only these rows at the --held-out size (case ids, e.g. "
                       "tfdata-none-uint8,tfdata-file-uint8)", parse=names, metavar="CASE,CASE",
                       default_text="every row")
NO_LEVELS = Option("--no-levels", "skip the parallelism levels (each row on 1, 2, 4, ... cores)", parse=None,
                   default=False)
POINTS = Option("--points", "predict again from a previous run's study.json, measuring nothing (for another "
                "--ram-budget, --accelerator, --full-images, or --held-out among its sizes)", parse=existing_file,
                metavar="study.json", default_text="measure")
RESUME = Option("--resume", "go on from the points a stopped run with the same options kept in --out "
                "(study.partial.json)", parse=None, default=False)


@dataclass(frozen=True)
class StudySettings:
    """What a study measures and predicts (each field is the option of the same name, see ``--help``).

    With an emulated ``accelerator``, training epochs are measured at every size (``model.fit``, laws of their
    own); the real model's are composed from the loader's epoch and the model's alone (training it at every size
    on a CPU would take longer than the rest of the study). ``min_round_s``: a round
    at a fitted size runs whole epochs for at least this long, one epoch of a few hundred images being too short
    to time alone. ``limits``: a smaller machine, enforced by a cgroup (:mod:`pipelines.limits`).
    ``checkpoint``: where points are kept as they are measured (``None``: nowhere).
    """

    preset: str = "coco2017"
    sizes: tuple[int, ...] = SIZES.field()
    held_out: int | None = None
    full_images: int | None = None
    ram_budget: int = 16 * 10**9
    accelerator: float | None = None
    model: bool = True
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
        require(self.min_round_s >= 0, f"--min-round-s must be >= 0, got {self.min_round_s}")
        require(self.held_out_rounds is None or self.held_out is not None,
                "--held-out-rounds times the --held-out size: add --held-out N (or leave --held-out-rounds out)")
        require(self.held_out_rows is None or self.held_out is not None,
                "--held-out-rows chooses rows at the --held-out size: add --held-out N (or leave --held-out-rows out)")
        rows = [case.id for case in STUDY_CASES]
        require(self.held_out_rows is None or set(self.held_out_rows) <= set(rows),
                f"--held-out-rows: case ids among {', '.join(rows)}, got {','.join(self.held_out_rows or ())}")
        require(not self.resume or self.checkpoint is not None, "--resume needs the checkpoint a run keeps in --out")

    @property
    def full_size(self) -> int:
        return self.full_images or PRESETS[self.preset].images

    @property
    def measures_training(self) -> bool:
        return self.model and self.accelerator is not None

    def measures_row(self, case_id: str, images: int) -> bool:
        """Whether the row ``case_id`` is measured at ``images`` (``held_out_rows`` narrows the held-out size)."""
        return images != self.held_out or self.held_out_rows is None or case_id in self.held_out_rows

    def plan_at(self, images: int) -> RoundPlan:
        """``rounds`` rounds of at least ``min_round_s``; at the held-out size, one epoch a round (of seconds)."""
        if images == self.held_out:
            return RoundPlan(rounds=self.held_out_rounds or self.rounds, min_round_s=0.0)
        return RoundPlan(rounds=self.rounds, min_round_s=self.min_round_s)

    @property
    def levels_images(self) -> int:
        """The size the parallelism levels are measured at: the middle of the fitted sizes."""
        return sorted(self.sizes)[len(self.sizes) // 2]
