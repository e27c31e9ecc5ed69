"""The benchmark run's options, composed from each concern's own settings and checked before anything runs."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pipelines.datasets.presets import DEFAULT_PRESET, PRESETS
from pipelines.gate.settings import GateSettings
from pipelines.harness.plan import RoundPlan
from pipelines.limits.session import LimitSettings, limit_settings
from pipelines.loaders.contract import Contract
from pipelines.validation import require


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
        paired_reference: time a reference workload (:mod:`pipelines.gate.reference`) after every throughput round, so
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
        gate_baseline: the baseline run the loaderbench gate judges this run against (``--gate-baseline``);
            ``None``: no gate.
        gate: the gate's settings (``--gate-threshold``, ``--gate-mismatch``, ``--gate-max-shared-cores``;
            validated with the other options);
            ``None``: its defaults. Anything else needs ``gate_baseline``: without it no gate runs.
        limits: a smaller machine to run on (``--ram-limit``, ``--read-bandwidth``, ``--run-exceeding``):
            the session runs in a cgroup that enforces them (:mod:`pipelines.limits`).
        contract: the contract every case starts from (each case sets its cache mode and placement).

    A combination that would do nothing is refused with the option's name and what to do, like a bad value:
    the run stops before anything is measured (``benchmarks/conftest.py`` builds these settings at start).
    """

    dataset: Path | None = None
    preset: str = DEFAULT_PRESET
    images: int | None = None
    seed: int = 0
    data_root: Path | None = None
    rounds: int = RoundPlan.rounds
    training_rounds: int = 2
    min_round_s: float = RoundPlan.min_round_s
    max_epochs_per_round: int = RoundPlan.max_epochs_per_round
    ram_budget: int | None = None
    paired_reference: bool = False
    alpha: float = 1.0
    weights: str | None = None
    accelerator: float | None = None
    data_service: str | None = None
    service_workers: int | None = None
    extended: bool = False
    gate_baseline: Path | None = None
    gate: GateSettings | None = None
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
        require(self.preset in PRESETS, f"--preset must be one of {', '.join(PRESETS)}, got {self.preset!r}")
        require(self.ram_budget is None or self.ram_budget > 0, "--ram-budget must be positive")
        require(self.ram_budget is None or self.limits.ram_limit is None or self.ram_budget <= self.limits.ram_limit,
                 "--ram-budget is more than --ram-limit: a memory cache cannot use more RAM than the run has")
        require(self.weights in (None, "imagenet") or Path(self.weights).expanduser().is_file(),
                 f"--weights: no such file: {self.weights} (give a local .weights.h5 file, or 'imagenet')")
        require(self.dataset is None or self.images is None,
                 "--images scales a generated preset; it cannot be combined with --dataset")
        # Combinations that would do nothing (an option read by nothing this run does): refused, not ignored.
        require(self.dataset is None or self.preset == DEFAULT_PRESET,
                 "--preset shapes a generated dataset; it cannot be combined with --dataset: leave --preset out")
        require(self.dataset is None or self.seed == 0,
                 "--seed seeds the dataset generator; it cannot be combined with --dataset: leave --seed out")
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
        gate = self.gate or GateSettings()
        for option, changed in (("--gate-threshold", gate.threshold != GateSettings.threshold),
                                ("--gate-mismatch", gate.mismatch != GateSettings.mismatch),
                                ("--gate-max-shared-cores", gate.max_shared_cores != GateSettings.max_shared_cores)):
            require(self.gate_baseline is not None or not changed,
                     f"{option} configures the loaderbench gate, which runs only with --gate-baseline: "
                     f"add --gate-baseline PATH (or leave {option} out)")

    @property
    def throughput_plan(self) -> RoundPlan:
        return RoundPlan(self.rounds, self.min_round_s, self.max_epochs_per_round)

    @property
    def training_plan(self) -> RoundPlan:
        return RoundPlan(self.training_rounds, self.min_round_s, self.max_epochs_per_round)


def settings_from_options(option: Callable[[str], Any]) -> BenchSettings:
    """:class:`BenchSettings` from command-line options (``option(name)`` is pytest's ``config.getoption``)."""
    from pipelines.units import parse_bytes

    budget = option("ram_budget")
    return BenchSettings(
        dataset=option("dataset"),
        preset=option("preset"),
        images=option("images"),
        seed=option("seed"),
        data_root=option("data_root"),
        rounds=option("rounds"),
        training_rounds=option("training_rounds"),
        min_round_s=option("min_round_s"),
        max_epochs_per_round=option("max_epochs_per_round"),
        ram_budget=parse_bytes(budget) if budget else None,
        paired_reference=option("paired_reference"),
        alpha=option("alpha"),
        weights=option("weights"),
        accelerator=option("accelerator"),
        data_service=option("data_service"),
        service_workers=option("service_workers"),
        extended=option("extended"),
        gate_baseline=option("gate_baseline"),
        gate=GateSettings(threshold=option("gate_threshold"), mismatch=option("gate_mismatch"),
                          max_shared_cores=option("gate_max_shared_cores")),
        limits=limit_settings(option("ram_limit"), option("read_bandwidth"), option("run_exceeding")),
        contract=Contract(batch_size=option("batch_size"), parallelism=option("parallelism"),
                          cache_dir=option("cache_dir")),
    )


