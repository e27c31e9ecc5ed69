"""Every setting of the suite, typed and in one place.

Two kinds of configuration exist and both live here:

* :class:`Contract` -- what every pipeline builder must deliver (image size, batch size, labels, cache mode...).
  All loaders take the same contract, which is what makes their timings comparable and their outputs equal.
* :class:`Preset` -- the shape of a generated dataset (image count, classes, image sizes, bytes per image),
  with :data:`PRESETS` modelled on the datasets of the study this suite reproduces.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Literal

CacheMode = str  # a key of CACHE_SPECS (declared below), not a fixed list: a new mode is one declaration
Placement = Literal["uint8", "float32"]
LabelMode = Literal["int", "categorical"]
Interpolation = Literal["bilinear", "nearest"]

CacheHome = Literal["nowhere", "ram", "disk"]


@dataclass(frozen=True)
class CacheSpec:
    """A cache mode, declared once: builders, cases, skip rules, the predictor, the plan and the reports read it.

    Attributes:
        name: the mode's name on the command line and in case ids.
        home: where cached elements live: ``nowhere`` (nothing is cached), ``ram`` (counts against the RAM
            budget) or ``disk`` (counts against free disk space; evicted from the page cache before warm epochs).
        element_overhead: bytes a cached element costs beyond its tensors, for the predictor. File:
            the tensor-bundle index entry, measured on TensorFlow 2.21 at 55-60 bytes for 32x32 to 224x224 images
            (tests/test_memory.py checks it to the byte range). Memory: two tensor headers, estimated; far below
            the noise of an RSS measurement. A compressed mode's prediction is the uncompressed size: an upper
            bound for the disk check, and the bytes saved are the measured ``cache_bytes`` against it.
        writes_ahead: the cache is written by a pass of its own before the first epoch reads it
            (``Dataset.save``, then ``Dataset.load``): that pass is timed as part of the first (``cold``) epoch,
            since a user pays it before training starts.
        extended: its cases belong to the extended group (``--extended``), kept out of the default run's budget.
    """

    name: str
    home: CacheHome
    element_overhead: int = 0
    writes_ahead: bool = False
    extended: bool = False

    @property
    def caches(self) -> bool:
        return self.home != "nowhere"

    @property
    def in_ram(self) -> bool:
        return self.home == "ram"

    @property
    def on_disk(self) -> bool:
        return self.home == "disk"


CACHE_SPECS: dict[str, CacheSpec] = {
    spec.name: spec
    for spec in (
        CacheSpec("none", "nowhere"),
        CacheSpec("memory", "ram", element_overhead=64),  # Dataset.cache()
        CacheSpec("file", "disk", element_overhead=60),  # Dataset.cache(path), written during the first epoch
        # Dataset.snapshot(path): persistent, written during the first epoch, reused by a later run (90 B an
        # element on disk beyond its tensors, measured on smoke, uint8 and float32)
        CacheSpec("snapshot", "disk", element_overhead=90, extended=True),
        # Dataset.save(path[, GZIP]) before training, Dataset.load(path) every epoch (60 B measured, uncompressed)
        CacheSpec("save", "disk", element_overhead=60, writes_ahead=True, extended=True),
        CacheSpec("save-gzip", "disk", element_overhead=60, writes_ahead=True, extended=True),
    )
}
CACHE_MODES: tuple[CacheMode, ...] = tuple(CACHE_SPECS)  # type: ignore[assignment]
PLACEMENTS: tuple[Placement, ...] = ("uint8", "float32")
LABEL_MODES: tuple[LabelMode, ...] = ("int", "categorical")
INTERPOLATIONS: tuple[Interpolation, ...] = ("bilinear", "nearest")

#: Image file extensions that every loader reads (the intersection of what Keras'
#: ``image_dataset_from_directory``, ``ImageDataGenerator`` and ``tf.io.decode_image`` accept).
IMAGE_EXTENSIONS: tuple[str, ...] = (".jpg", ".jpeg", ".png", ".bmp")


def available_cores() -> int:
    """CPUs this process may run on: its affinity mask where the platform has one (``taskset``, a container's
    CPU set, the study's pinned children), which ``os.cpu_count()`` ignores."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def _require(condition: bool, message: str) -> None:
    if not condition:
        raise ValueError(message)


@dataclass(frozen=True)
class Contract:
    """What a pipeline builder delivers: batches of ``(images, labels)`` that ``model.fit`` accepts.

    Attributes:
        image_size: ``(height, width)`` every image is resized to (aspect ratio not kept, as in Keras).
        batch_size: images per batch; the last batch of an epoch may be smaller (never dropped).
        label_mode: ``int`` (class index, for sparse losses) or ``categorical`` (one-hot float32).
        interpolation: resize filter, ``bilinear`` or ``nearest``; ``nearest`` makes every loader bit-equal
            up to JPEG decoder rounding, ``bilinear`` differs for ImageDataGenerator (PIL antialiases).
        shuffle: shuffle every epoch (off for equality checks); order is then seeded by ``seed``.
        seed: seed for shuffling.
        shuffle_buffer: elements held by ``Dataset.shuffle`` after a cache. Costs RAM: one decoded image each.
        cache: ``none``, ``memory`` (``Dataset.cache()``: requires the whole decoded dataset in RAM) or
            ``file`` (``Dataset.cache(path)``: the decoded dataset on disk, written in the first epoch).
        placement: what the cache holds. ``uint8``: resized pixels, normalised after the cache (a quarter of
            the bytes). ``float32``: normalised images, as in the study (4 bytes a value: why its cache was 5x
            the JPEGs).
        cache_dir: parent folder for file caches; a fresh temporary folder is made in it for every pipeline
            and removed when the pipeline is closed. ``None`` uses the system's temporary folder.
        parallelism: parallel calls / worker threads; ``None`` lets tf.data AUTOTUNE choose (and uses one
            worker per core for ImageDataGenerator).
        service_address: the tf.data service dispatcher (``grpc://host:port``) that service loaders send their
            pipeline to; ``None`` for every other loader (the suite starts a local service for its service cases).
    """

    image_size: tuple[int, int] = (224, 224)
    batch_size: int = 32
    label_mode: LabelMode = "int"
    interpolation: Interpolation = "bilinear"
    shuffle: bool = True
    seed: int = 1337
    shuffle_buffer: int = 1024
    cache: CacheMode = "none"
    placement: Placement = "uint8"
    cache_dir: Path | None = None
    parallelism: int | None = None
    service_address: str | None = None

    def __post_init__(self) -> None:
        _require(len(self.image_size) == 2 and all(int(s) > 0 for s in self.image_size),
                 f"image_size must be two positive integers (height, width), got {self.image_size!r}")
        _require(self.batch_size > 0, f"batch_size must be positive, got {self.batch_size}")
        _require(self.label_mode in LABEL_MODES, f"label_mode must be one of {LABEL_MODES}, got {self.label_mode!r}")
        _require(self.interpolation in INTERPOLATIONS,
                 f"interpolation must be one of {INTERPOLATIONS}, got {self.interpolation!r}")
        _require(self.shuffle_buffer > 0, f"shuffle_buffer must be positive, got {self.shuffle_buffer}")
        _require(self.cache in CACHE_MODES, f"cache must be one of {CACHE_MODES}, got {self.cache!r}")
        _require(self.placement in PLACEMENTS, f"placement must be one of {PLACEMENTS}, got {self.placement!r}")
        _require(self.parallelism is None or self.parallelism > 0,
                 f"parallelism must be positive or None (AUTOTUNE), got {self.parallelism}")

    @property
    def cache_spec(self) -> CacheSpec:
        """The declaration of this contract's cache mode."""
        return CACHE_SPECS[self.cache]

    def with_(self, **changes: object) -> Contract:
        """A copy with some fields changed (validated again)."""
        return replace(self, **changes)

    @property
    def workers(self) -> int:
        """Worker threads for loaders that do not AUTOTUNE."""
        return self.parallelism or available_cores()


@dataclass(frozen=True)
class Preset:
    """The shape of a generated dataset.

    Attributes:
        name: the preset's name on the command line.
        images: number of images at full size.
        classes: number of class folders; image ``i`` goes to class ``i % classes``.
        sizes: ``((width, height), weight)`` pairs: image dimensions and how often each occurs.
        size_jitter: relative jitter applied to each dimension, so sizes and aspect ratios vary.
        target_bytes: average JPEG file size the generator aims for (JPEG quality is calibrated to it).
        detail: strength of texture and sensor noise; raise it where quality 95 cannot reach target_bytes.
        class_names: folder names; ``class_00``... when empty.
        description: where the shape comes from.
    """

    name: str
    images: int
    classes: int
    sizes: tuple[tuple[tuple[int, int], float], ...]
    target_bytes: int
    size_jitter: float = 0.15
    detail: float = 1.0
    class_names: tuple[str, ...] = ()
    description: str = ""

    def __post_init__(self) -> None:
        _require(self.images >= self.classes >= 1,
                 f"preset {self.name!r}: need at least one image per class "
                 f"({self.images} images for {self.classes} classes)")
        _require(not self.class_names or len(self.class_names) == self.classes,
                 f"preset {self.name!r}: {len(self.class_names)} class names for {self.classes} classes")
        _require(self.target_bytes > 0 and self.sizes, f"preset {self.name!r}: sizes and target_bytes required")

    @property
    def folder_names(self) -> tuple[str, ...]:
        width = len(str(self.classes - 1))
        return self.class_names or tuple(f"class_{i:0{max(2, width)}d}" for i in range(self.classes))

    def scaled(self, images: int | None) -> Preset:
        """The same shape (classes, image sizes, bytes per image) with another image count."""
        if images is None or images == self.images:
            return self
        return replace(self, images=images)


PRESETS: dict[str, Preset] = {
    p.name: p
    for p in (
        Preset(
            name="smoke",
            images=300,
            classes=3,
            sizes=(((320, 240), 0.6), ((240, 320), 0.2), ((300, 300), 0.2)),
            target_bytes=16_000,
            description="the built-in default: small enough for a whole benchmark run in minutes on 2 cores",
        ),
        Preset(
            name="dogs-vs-cats",
            images=10_000,
            classes=2,
            sizes=(((500, 375), 0.45), ((400, 300), 0.25), ((375, 500), 0.15), ((320, 240), 0.15)),
            target_bytes=21_700,
            class_names=("cat", "dog"),
            description="the study's small set: 10,000 images, 2 classes, 217 MB",
        ),
        Preset(
            name="coco2017",
            images=117_266,
            classes=80,
            sizes=(((640, 480), 0.6), ((480, 640), 0.15), ((640, 427), 0.25)),
            size_jitter=0.0,
            target_bytes=153_500,
            detail=2.2,
            description="the study's large set: 117,266 images, 80 classes, ~18 GB, mostly 640x480",
        ),
    )
}

DEFAULT_PRESET = "smoke"


def default_data_root() -> Path:
    """Where generated datasets are kept between runs: ``$LOADERBENCH_DATA`` or ``~/.cache/loaderbench``."""
    return Path(os.environ.get("LOADERBENCH_DATA") or Path.home() / ".cache" / "loaderbench" / "datasets")


@dataclass(frozen=True)
class RoundPlan:
    """How a case is timed.

    Attributes:
        rounds: timed rounds; their spread is the case's noise figure.
        min_round_s: a round runs enough whole epochs to last at least this long (calibrated once per case).
        max_epochs_per_round: a ceiling on that count, for very small datasets.
    """

    rounds: int = 3
    min_round_s: float = 1.0
    max_epochs_per_round: int = 1000

    def __post_init__(self) -> None:
        if self.rounds < 1 or self.min_round_s < 0 or self.max_epochs_per_round < 1:
            raise ValueError(f"rounds and max_epochs_per_round must be >= 1, min_round_s >= 0: {self}")

    def epochs_per_round(self, epoch_s: float) -> int:
        """Whole epochs of ``epoch_s`` seconds that last at least ``min_round_s`` (1 .. the ceiling)."""
        if epoch_s <= 0:
            return self.max_epochs_per_round
        return max(1, min(self.max_epochs_per_round, math.ceil(self.min_round_s / epoch_s)))


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
        paired_reference: time a reference workload (:mod:`pipelines.probe`) after every throughput round, so
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
        contract: the contract every case starts from (each case sets its cache mode and placement).

    A combination that would do nothing is refused with the option's name and what to do, like a bad value:
    the run stops before anything is measured (``benchmarks/conftest.py`` builds these settings at start).
    """

    dataset: Path | None = None
    preset: str = DEFAULT_PRESET
    images: int | None = None
    seed: int = 0
    data_root: Path | None = None
    rounds: int = 3
    training_rounds: int = 2
    min_round_s: float = 1.0
    max_epochs_per_round: int = 1000
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
    contract: Contract = Contract()

    def __post_init__(self) -> None:
        _require(self.rounds >= 1, f"--rounds must be at least 1, got {self.rounds}")
        _require(self.training_rounds >= 1, f"--training-rounds must be at least 1, got {self.training_rounds}")
        _require(self.min_round_s >= 0, f"--min-round-s must be >= 0, got {self.min_round_s}")
        _require(self.max_epochs_per_round >= 1,
                 f"--max-epochs-per-round must be at least 1, got {self.max_epochs_per_round}")
        _require(self.alpha > 0, f"--alpha must be positive, got {self.alpha}")
        _require(self.accelerator is None or self.accelerator > 0,
                 f"--accelerator must be a positive rate in images/s, got {self.accelerator}")
        _require(self.service_workers is None or self.service_workers >= 1,
                 f"--service-workers must be at least 1, got {self.service_workers}")
        _require(self.service_workers is None or self.data_service is None,
                 "--service-workers sizes the local service; it cannot be combined with --data-service")
        _require(self.preset in PRESETS, f"--preset must be one of {', '.join(PRESETS)}, got {self.preset!r}")
        _require(self.ram_budget is None or self.ram_budget > 0, "--ram-budget must be positive")
        _require(self.weights in (None, "imagenet") or Path(self.weights).expanduser().is_file(),
                 f"--weights: no such file: {self.weights} (give a local .weights.h5 file, or 'imagenet')")
        _require(self.dataset is None or self.images is None,
                 "--images scales a generated preset; it cannot be combined with --dataset")
        # Combinations that would do nothing (an option read by nothing this run does): refused, not ignored.
        _require(self.dataset is None or self.preset == DEFAULT_PRESET,
                 "--preset shapes a generated dataset; it cannot be combined with --dataset: leave --preset out")
        _require(self.dataset is None or self.seed == 0,
                 "--seed seeds the dataset generator; it cannot be combined with --dataset: leave --seed out")
        _require(self.accelerator is None or self.alpha == 1.0,
                 "--alpha sets MobileNet's width, which --accelerator replaces by an emulated accelerator: "
                 "leave one of them out")
        _require(self.accelerator is None or self.weights is None,
                 "--weights loads MobileNet's weights, which --accelerator replaces by an emulated accelerator: "
                 "leave one of them out")
        _require(self.extended or self.data_service is None,
                 "--data-service is used by the tf.data service cases, which run only with --extended: "
                 "add --extended (or leave --data-service out)")
        _require(self.extended or self.service_workers is None,
                 "--service-workers sizes the local tf.data service of the service cases, which run only with "
                 "--extended: add --extended (or leave --service-workers out)")
        gate = self.gate or GateSettings()
        for option, changed in (("--gate-threshold", gate.threshold != GateSettings.threshold),
                                ("--gate-mismatch", gate.mismatch != GateSettings.mismatch),
                                ("--gate-max-shared-cores", gate.max_shared_cores != GateSettings.max_shared_cores)):
            _require(self.gate_baseline is not None or not changed,
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
        contract=Contract(batch_size=option("batch_size"), parallelism=option("parallelism"),
                          cache_dir=option("cache_dir")),
    )


@dataclass(frozen=True)
class GateSettings:
    """The loaderbench gate (:mod:`pipelines.gate`): how a case is judged regressed.

    A case regresses when its median epoch (its rounds divided by the median of their paired reference rounds,
    when both runs have them) is more than ``threshold`` slower than the baseline's **and** a one-sided
    Mann-Whitney test of its rounds (as timed, this run's divided by the whole run's drift) says they are slower
    at ``alpha`` shared out over the cases
    compared (Bonferroni): rounds that differ only by noise fail a comparison of ten cases at most ``alpha`` of
    the time. ``threshold`` covers what no test within one run can see, the drift left between runs an hour
    apart after normalisation: 8.6% at the 99th percentile of 138 unchanged case comparisons when it was chosen,
    9.3% of 260 once the campaign ended (README, "Regression gate"), hence 10%.

    Attributes:
        threshold: smallest slowdown that can fail (0.10 = 10%).
        alpha: false-alarm rate of the rank test over all cases of a comparison.
        confidence: of the bootstrap interval printed next to each ratio.
        resamples: bootstrap resamples (seeded, so a comparison prints the same interval twice).
        mismatch: ``fail`` or ``warn`` when the baseline ran on another CPU, core count, TensorFlow or Python.
        max_shared_cores: cores' worth of CPU that other processes and the hypervisor may take during a case's
            rounds, in either run, for the case to be judged; above it the case is inconclusive
            (:mod:`pipelines.contention`). Normalisation by the paired reference corrects a machine slower as a
            whole, not a neighbour on one core (README, "Regression gate"). A quiet 2-core VM reads 0.00-0.05.
        max_reference_drift: how far the paired reference's median may move from the baseline's (as a fraction)
            for normalisation to be trusted: the drift it was shown to correct was 10-30%, hence 30%.
    """

    threshold: float = 0.10
    alpha: float = 0.01
    confidence: float = 0.95
    resamples: int = 2000
    mismatch: Literal["fail", "warn"] = "fail"
    max_shared_cores: float = 0.25
    max_reference_drift: float = 0.30

    def __post_init__(self) -> None:
        _require(0 <= self.threshold < 1, f"--gate-threshold must be in [0, 1), got {self.threshold}")
        _require(0 < self.alpha < 1, f"gate alpha must be in (0, 1), got {self.alpha}")
        _require(0 < self.confidence < 1, f"gate confidence must be in (0, 1), got {self.confidence}")
        _require(self.mismatch in ("fail", "warn"), f"--gate-mismatch must be fail or warn, got {self.mismatch!r}")
        _require(self.max_shared_cores >= 0, f"--gate-max-shared-cores must be >= 0, got {self.max_shared_cores}")
        _require(self.max_reference_drift > 0,
                 f"gate max reference drift must be positive, got {self.max_reference_drift}")


#: The cases and rounds the CI gate runs (tox -e bench-baseline / bench-gate, ``python -m pipelines.ab``): the
#: no-cache throughput cases (each loader's own read/decode path; cached warm epochs skip it) except the
#: ImageDataGenerator worker-process variant (0.4 s epochs, the slowest case, no path of its own to guard), in
#: rounds short enough for 7 of them, each followed by the paired reference.
GATE_PYTEST_ARGS: tuple[str, ...] = (
    "-k", "throughput and none and not processes", "--rounds", "7", "--min-round-s", "0.5", "--paired-reference",
)


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
        rounds: timed epochs per case, epoch kind and size.
        levels: also measure every row on fewer cores (1, 2, 4, ... below all, each in a pinned child) at the
            middle fitted size, and the stages' costs on one thread (:mod:`pipelines.study.cores`).
        seed, data_root: where the generated datasets come from (as for the benchmarks).
        contract: the contract every case starts from.
    """

    preset: str = "coco2017"
    sizes: tuple[int, ...] = (250, 500, 1000)
    held_out: int | None = None
    full_images: int | None = None
    ram_budget: int = 16 * 10**9
    accelerator: float | None = None
    model: bool = True
    training: Literal["measured", "composed"] | None = None
    rounds: int = 3
    levels: bool = True
    seed: int = 0
    data_root: Path | None = None
    contract: Contract = Contract()

    def __post_init__(self) -> None:
        _require(self.preset in PRESETS, f"--preset must be one of {', '.join(PRESETS)}, got {self.preset!r}")
        _require(len(set(self.sizes)) >= 2 and min(self.sizes) >= PRESETS[self.preset].classes,
                 f"--sizes: at least two distinct sizes, each at least the preset's {PRESETS[self.preset].classes} "
                 f"classes, got {self.sizes}")
        _require(self.held_out is None or self.held_out not in self.sizes,
                 f"--held-out {self.held_out} is one of the fitted --sizes: a held-out size must be left out")
        _require(self.rounds >= 1, f"--rounds must be at least 1, got {self.rounds}")
        _require(self.ram_budget > 0, "--ram-budget must be positive")
        _require(self.accelerator is None or self.accelerator > 0,
                 f"--accelerator must be a positive rate in images/s, got {self.accelerator}")
        _require(self.full_images is None or self.full_images >= 1, "--full-images must be positive")
        _require(self.training in (None, "measured", "composed"),
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

    @property
    def levels_images(self) -> int:
        """The size the parallelism levels are measured at: the middle of the fitted sizes."""
        return sorted(self.sizes)[len(self.sizes) // 2]
