"""The benchmark run's options, composed from each concern's own declarations and checked before anything runs."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pipelines.datasets.options import DATA_ROOT, DATASET, IMAGES, PRESET, SEED, DatasetChoice
from pipelines.harness.plan import MAX_EPOCHS_PER_ROUND, MIN_ROUND_S, ROUNDS, RoundPlan
from pipelines.limits.session import LimitSettings
from pipelines.loaders.contract import Contract
from pipelines.memory.predict import RAM_BUDGET
from pipelines.options import Option, settings_from
from pipelines.values import count, positive
from pipelines.validation import require

TRAINING_ROUNDS = Option("--training-rounds", "timed rounds a training case", parse=count, default=2, metavar="N")
PAIRED_REFERENCE = Option("--paired-reference", "time a Pillow decode probe after every throughput round, for the "
                          "regression gate's drift normalisation (docs/gate.md)", parse=None, default=False)
ALPHA = Option("--alpha", "MobileNet width multiplier", parse=positive, default=1.0)
WEIGHTS = Option("--weights", "MobileNet weights: a local .weights.h5 file, or 'imagenet' (needs a network)",
                 metavar="FILE", default_text="random initialisation, nothing downloaded")
ACCELERATOR = Option("--accelerator", "train on an emulated accelerator of this speed instead of MobileNet: each step "
                     "sleeps batch / rate seconds, as MLPerf Storage and DLIO emulate", parse=positive,
                     metavar="IMAGES_PER_SEC", default_text="the real model")
EXTENDED = Option("--extended", "also run the extended group: TFRecord shards, snapshot and save/load caches, Grain, "
                  "DALI, the tf.data service (-m extended: only those)", parse=None, default=False)
DATA_SERVICE = Option("--data-service", "run the tf.data service cases on this dispatcher", metavar="grpc://HOST:PORT",
                      default_text="a local dispatcher and workers started for the run")
SERVICE_WORKERS = Option("--service-workers", "workers of the local tf.data service", parse=count, metavar="N",
                         default_text="one a core, capped by RAM at ~600 MB a worker")


@dataclass(frozen=True)
class BenchSettings:
    """The benchmark run's options (root ``conftest.py`` fills it from the command line).

    Attributes:
        dataset: a user's own class-per-folder tree; ``None`` generates ``preset`` instead.
        preset: generated dataset shape (see :data:`PRESETS`).
        images: scale the preset to this many images.
        seed: generator seed.
        data_root: where generated datasets are kept (``None``: :func:`default_data_root`).
        rounds: timed rounds per throughput case and reference; their spread is the case's noise figure.
        training_rounds: timed rounds per training case and the model-only reference.
        min_round_s: a round runs enough whole epochs to last at least this long (calibrated per case).
        max_epochs_per_round: ceiling on epochs per round, for tiny datasets.
        ram_budget: bytes an in-memory cache may use; ``None`` takes the RAM available now.
        paired_reference: time a reference workload (:mod:`pipelines.epoch.reference`) after every throughput round, so
            that a regression gate can divide the machine's drift out (costs about half as long again).
        alpha: MobileNet width multiplier.
        weights: ``None`` (random init, nothing downloaded), a local weights file, or ``imagenet``.
        accelerator: train on an emulated accelerator of this many images/s instead of MobileNet
            (:class:`~pipelines.training.EmulatedAccelerator`); ``None``: the real model.
        data_service: the tf.data service dispatcher the service cases use (``grpc://host:port``); ``None``
            starts a local one (a dispatcher and ``service_workers`` worker processes) for the run.
        service_workers: workers of that local service; ``None``: one per core, capped by RAM (~600 MB a
            worker).
        extended: the extended group runs too (``--extended``): the only cases that use ``data_service`` and
            ``service_workers``.
        limits: a smaller machine to run on (``--ram-limit``, ``--read-bandwidth``, ``--run-exceeding``):
            the session runs in a cgroup that enforces them (:mod:`pipelines.limits`).
        contract: the contract every case starts from (each case sets its cache mode and placement).

    Each field holds its option's one declaration (:mod:`pipelines.options`): root ``conftest.py`` generates
    pytest's options from them. A combination that would do nothing is refused with the option's name and what
    to do, like a bad value: the run stops before anything is measured (``benchmarks/conftest.py`` builds these
    settings at start). The gate's options are :class:`~pipelines.gate.settings.GateRun`'s.
    """

    dataset: Path | None = DATASET.field()
    preset: str = PRESET.field()
    images: int | None = IMAGES.field()
    seed: int = SEED.field()
    data_root: Path | None = DATA_ROOT.field()
    rounds: int = ROUNDS.field()
    training_rounds: int = TRAINING_ROUNDS.field()
    min_round_s: float = MIN_ROUND_S.field()
    max_epochs_per_round: int = MAX_EPOCHS_PER_ROUND.field()
    ram_budget: int | None = RAM_BUDGET.field()
    paired_reference: bool = PAIRED_REFERENCE.field()
    alpha: float = ALPHA.field()
    weights: str | None = WEIGHTS.field()
    accelerator: float | None = ACCELERATOR.field()
    data_service: str | None = DATA_SERVICE.field()
    service_workers: int | None = SERVICE_WORKERS.field()
    extended: bool = EXTENDED.field()
    limits: LimitSettings = LimitSettings()
    contract: Contract = Contract()

    def __post_init__(self) -> None:
        require(self.rounds >= 1, f"--rounds must be at least 1, got {self.rounds}")
        require(self.training_rounds >= 1, f"--training-rounds must be at least 1, got {self.training_rounds}")
        require(self.min_round_s >= 0, f"--min-round-s must be >= 0, got {self.min_round_s}")
        require(self.max_epochs_per_round >= 1,
                 f"--max-epochs-per-round must be at least 1, got {self.max_epochs_per_round}")
        require(self.alpha > 0, f"--alpha must be positive, got {self.alpha}")
        require(self.accelerator is None or self.accelerator > 0,
                 f"--accelerator must be a positive rate in images/s, got {self.accelerator}")
        require(self.service_workers is None or self.service_workers >= 1,
                 f"--service-workers must be at least 1, got {self.service_workers}")
        require(self.service_workers is None or self.data_service is None,
                 "--service-workers sizes the local service; it cannot be combined with --data-service")
        DatasetChoice(self.dataset, self.preset, self.images, self.seed, self.data_root)  # its own checks
        require(self.ram_budget is None or self.ram_budget > 0, "--ram-budget must be positive")
        require(self.ram_budget is None or self.limits.ram_limit is None or self.ram_budget <= self.limits.ram_limit,
                 "--ram-budget is more than --ram-limit: a memory cache cannot use more RAM than the run has")
        require(self.weights in (None, "imagenet") or Path(self.weights).expanduser().is_file(),
                 f"--weights: no such file: {self.weights} (give a local .weights.h5 file, or 'imagenet')")
        # Combinations that would do nothing (an option read by nothing this run does): refused, not ignored.
        require(self.accelerator is None or self.alpha == 1.0,
                 "--alpha sets MobileNet's width, which --accelerator replaces by an emulated accelerator: "
                 "leave one of them out")
        require(self.accelerator is None or self.weights is None,
                 "--weights loads MobileNet's weights, which --accelerator replaces by an emulated accelerator: "
                 "leave one of them out")
        require(self.extended or self.data_service is None,
                 "--data-service is used by the tf.data service cases, which run only with --extended: "
                 "add --extended (or leave --data-service out)")
        require(self.extended or self.service_workers is None,
                 "--service-workers sizes the local tf.data service of the service cases, which run only with "
                 "--extended: add --extended (or leave --service-workers out)")

    @property
    def throughput_plan(self) -> RoundPlan:
        return RoundPlan(self.rounds, self.min_round_s, self.max_epochs_per_round)

    @property
    def training_plan(self) -> RoundPlan:
        return RoundPlan(self.training_rounds, self.min_round_s, self.max_epochs_per_round)


def settings_from_options(option: Callable[[str], Any]) -> BenchSettings:
    """:class:`BenchSettings` from command-line options (``option(name)`` is pytest's ``config.getoption``)."""
    return settings_from(BenchSettings, option)
