"""Shared pytest options and fixtures: command-line options in, typed settings and a checked dataset out."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

from pipelines.datasets import DatasetError, DatasetIndex, prepare_dataset
from pipelines.datasets.presets import DEFAULT_PRESET, PRESETS
from pipelines.gate.settings import GateSettings
from pipelines.harness.settings import BenchSettings, settings_from_options
from pipelines.limits.session import LIMIT_OPTIONS
from pipelines.loaders.contract import Contract

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # TensorFlow's start-up chatter hides the tables

# TensorFlow calls are slow and a 2-core machine is small: few examples, no deadline.
settings.register_profile(
    "loaderbench",
    max_examples=8,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "loaderbench"))


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("loaderbench", "loaderbench: dataset and benchmark settings")
    group.addoption("--dataset", type=Path, help="your own class-per-folder image tree (checked before timing)")
    group.addoption("--preset", default=DEFAULT_PRESET, choices=sorted(PRESETS),
                    help=f"generated dataset shape when --dataset is not given (default: {DEFAULT_PRESET})")
    group.addoption("--images", type=int, help="scale the preset to N images (same classes, sizes and bytes/image)")
    group.addoption("--seed", type=int, default=BenchSettings.seed, help="dataset generator seed")
    group.addoption("--data-root", type=Path, help="where generated datasets are kept (default ~/.cache/loaderbench)")
    group.addoption("--rounds", type=int, default=BenchSettings.rounds,
                    help="timed rounds per throughput case; their spread is printed next to each rate "
                         f"(default {BenchSettings.rounds})")
    group.addoption("--training-rounds", type=int, default=BenchSettings.training_rounds,
                    help=f"timed rounds per training case (default {BenchSettings.training_rounds})")
    group.addoption("--min-round-s", type=float, default=BenchSettings.min_round_s,
                    help="a round runs enough whole epochs to last at least this long "
                         f"(default {BenchSettings.min_round_s})")
    group.addoption("--max-epochs-per-round", type=int, default=BenchSettings.max_epochs_per_round,
                    help="ceiling on the epochs in one round, for tiny datasets "
                         f"(default {BenchSettings.max_epochs_per_round})")
    group.addoption("--paired-reference", action="store_true",
                    help="time a Pillow decode probe after every throughput round, for the regression gate's "
                         "drift normalisation (docs/gate.md)")
    group.addoption("--gate-baseline", type=Path,
                    help="judge this run against a baseline run's JSON (--benchmark-json) with the loaderbench "
                         "gate; a regressed case fails the session (docs/gate.md)")
    group.addoption("--gate-threshold", type=float, default=GateSettings.threshold,
                    help=f"gate: smallest slowdown that fails (default {GateSettings.threshold})")
    group.addoption("--gate-mismatch", choices=("fail", "warn"), default=GateSettings.mismatch,
                    help="gate: a baseline from another CPU, core count, TensorFlow or Python: fail or warn")
    group.addoption("--gate-max-shared-cores", type=float, default=GateSettings.max_shared_cores,
                    help="gate: cores' worth of CPU other processes may take during a case's rounds before the "
                         f"case is inconclusive (default {GateSettings.max_shared_cores})")
    group.addoption("--cache-dir", type=Path,
                    help="where file caches are written (default: the system's temporary folder); put it on the "
                         "disk you would train from")
    group.addoption("--ram-budget", help="RAM an in-memory cache may use, e.g. 16GB (default: available RAM)")
    for flag, kwargs in LIMIT_OPTIONS:
        group.addoption(flag, **kwargs)
    group.addoption("--alpha", type=float, default=BenchSettings.alpha,
                    help=f"MobileNet width multiplier (default {BenchSettings.alpha})")
    group.addoption("--accelerator", type=float, metavar="IMAGES_PER_SEC",
                    help="train on an emulated accelerator of this speed instead of MobileNet: each step sleeps "
                         "batch / rate seconds, as MLPerf Storage and DLIO emulate (default: the real model)")
    group.addoption("--weights", help="MobileNet weights: a local file, or 'imagenet' (needs a network)")
    group.addoption("--batch-size", type=int, default=Contract.batch_size,
                    help=f"images per batch (default {Contract.batch_size})")
    group.addoption("--extended", action="store_true",
                    help="also run the extended group: TFRecord shards, snapshot and save/load caches, Grain, the tf.data "
                         "service (-m extended: only those)")
    group.addoption("--data-service", metavar="grpc://HOST:PORT",
                    help="run the tf.data service cases on this dispatcher (default: start a local dispatcher and "
                         "workers for the run, stopped at its end)")
    group.addoption("--service-workers", type=int,
                    help="workers of the local tf.data service (default: one per core, capped by RAM at ~600 MB "
                         "a worker)")
    group.addoption("--parallelism", type=int,
                    help="parallel calls / worker threads instead of AUTOTUNE (steadier timings for a CI gate)")


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
