"""The ``benchmark.extra_info`` record every case writes (docs/measurement.md lists every key).

The write side, next to the harness that measures: each record carries its case id (``case``), so that the
summary, the report and anything else reading pytest-benchmark's JSON need no loader or cache registry.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict
from pathlib import Path
from typing import Any

from pipelines.harness.cases import Case
from pipelines.harness.complete import incomplete_info
from pipelines.caches.modes import CACHE_SPECS
from pipelines.loaders.contract import Contract
from pipelines.datasets import DatasetIndex
from pipelines.harness.rounds import TimedEpochs
from pipelines.loaders.registry import BASELINE_LOADER, base_loader
from pipelines.epoch.run import Rate
from pipelines.memory import predict_cache
from pipelines.caches.pagecache import is_ram_backed
from pipelines.harness.verdict import noise_band, utilisation, verdict


def memory_info(case: Case, timed: TimedEpochs, index: DatasetIndex, contract: Contract) -> dict[str, Any]:
    """Predicted against measured cache cost.

    ``measured_vs_predicted``: for a file cache, bytes on disk / predicted cache bytes; for a memory cache,
    the fill epoch's peak RSS growth / predicted RAM (the cache: its shuffle buffer shares the cached tensors),
    which also holds the pipeline's working set (docs/memory.md).
    """
    spec = contract.cache_spec
    if not spec.caches:
        return {}
    prediction = predict_cache(index.images, contract)
    if spec.on_disk:
        measured, expected = timed.cache_bytes, prediction.total_bytes
    else:
        measured, expected = timed.peak_growth_bytes, prediction.ram_bytes
    return {
        "predicted_cache_bytes": prediction.total_bytes,
        "predicted_ram_bytes": prediction.ram_bytes,
        "peak_rss_bytes": timed.peak_rss_bytes,
        "rss_growth_bytes": timed.rss_growth_bytes,
        "peak_growth_bytes": timed.peak_growth_bytes,
        "measured_vs_predicted": round(measured / expected, 3) if measured and expected else None,
        # on disk for a file cache; predicted for a memory cache (RSS also holds the working set)
        "cache_vs_jpeg": round((timed.cache_bytes if spec.on_disk else prediction.total_bytes) / index.bytes, 2),
    }


def dataset_info(index: DatasetIndex) -> dict[str, Any]:
    return {"dataset": index.name, "dataset_images": index.images, "dataset_bytes": index.bytes,
            "dataset_classes": len(index.class_names)}


#: The contract's fields that change what a case times, recorded with every case (``contract``); its cache mode
#: and placement are in the case's id, and where caches or a service live is not the pipeline's work.
CONTRACT_FIELDS: tuple[str, ...] = ("image_size", "batch_size", "label_mode", "interpolation", "shuffle", "seed",
                                    "shuffle_buffer", "parallelism")


def contract_info(contract: Contract) -> dict[str, Any]:
    """``{"contract": {...}}``: what the case's pipeline delivered (:data:`CONTRACT_FIELDS`), so that the gate
    can refuse to compare cases of one name that timed other work (:mod:`pipelines.gate.runs`)."""
    fields = {name: getattr(contract, name) for name in CONTRACT_FIELDS}
    fields["image_size"] = list(fields["image_size"])  # as JSON reads it back
    return {"contract": fields}


def planned_info(dataset: Path | None, preset: str, images: int | None, seed: int,
                 contract: Contract) -> dict[str, Any]:
    """What :func:`dataset_info` and :func:`contract_info` will record, as far as it is known before the dataset
    is prepared: the dataset's name, images and classes (a user's folder: its name, and its images when it can
    be indexed), and the contract. The gate checks a baseline against it before anything is measured."""
    from pipelines.datasets import DatasetError, count_images, dataset_folder_name
    from pipelines.datasets.presets import PRESETS

    info: dict[str, Any] = contract_info(contract)
    if dataset is not None:
        info["dataset"] = Path(dataset).expanduser().name
        try:
            info["dataset_images"] = count_images(dataset, preset, images)
        except DatasetError:
            pass  # the dataset fixture stops the run with the folder's faults
        return info
    try:
        shape = PRESETS[preset].scaled(images)
    except (KeyError, ValueError):
        return info  # refused with its own message when the dataset is prepared
    return {**info, "dataset": dataset_folder_name(shape, seed), "dataset_images": shape.images,
            "dataset_classes": shape.classes}


def _rounds_info(timed: TimedEpochs) -> dict[str, Any]:
    """The rate every case and reference reports, with the noise figure printed beside it."""
    return {
        "images": timed.images,
        "images_per_sec": round(timed.images_per_sec(), 2),
        "spread": round(timed.spread(), 4),
        "rounds": len(timed.round_seconds) or len(timed.runs),
        "epochs_per_round": timed.epochs_per_round,
        # the rounds themselves (seconds per epoch), and the paired reference's after each: what a gate reads
        "round_seconds": [round(s, 6) for s in timed.round_seconds],
        "paired_seconds": [round(s, 6) for s in timed.paired_seconds],
        # how much of the machine others took meanwhile (cores): a gate does not judge rounds of a shared machine
        **({"other_cores": timed.contention.other_cores, "steal_cores": timed.contention.steal_cores,
            "available_cores": timed.contention.cores} if timed.contention else {}),
    }


def case_info(case: Case, epoch: str, timed: TimedEpochs, limits: Mapping[str, Rate]) -> dict[str, Any]:
    """What was built, how fast it ran, and where it read from; ``limits``: the session's reference rates."""
    rate = timed.images_per_sec()
    info: dict[str, Any] = {
        "case": case.id,
        "loader": case.loader,
        "baseline": base_loader(case.loader) == BASELINE_LOADER,
        "cache": case.cache,
        "placement": case.placement,
        "epoch": epoch,
        **_rounds_info(timed),
        "first_batch_s": round(timed.median_first_batch_s(), 4),
        "page_cache": timed.page_cache,
        "page_cache_resident": _share(timed.page_cache_resident),
        "cache_bytes": timed.cache_bytes,
        "source_bytes": timed.source_bytes,
        # the loader's RAM outside a cache: this process's peak, and its worker processes' (summed) where it has any
        "process_peak_rss_bytes": timed.process_peak_rss_bytes,
        "workers_peak_rss_bytes": timed.workers_peak_rss_bytes,
        # what the disks did over the timed epochs: whether a slow cold epoch was the storage's doing
        "storage": ({**asdict(timed.storage), "busy": round(timed.storage.busy, 3),
                     "ms_per_read": round(timed.storage.ms_per_read, 3)} if timed.storage else None),
        # this process's page faults and time in the kernel, each timed epoch: what filling memory cost it
        "faults": [asdict(run.faults) for run in timed.runs if run.faults],
    }
    if CACHE_SPECS[case.cache].on_disk:
        info.update(cache_resident=_share(timed.cache_resident), cache_filesystem=timed.cache_filesystem,
                    cache_on_ram=is_ram_backed(timed.cache_filesystem))
    for name, key in (("decode-limit", "decode_limit"), ("machine-limit", "machine_limit")):
        if name in limits:
            info[f"{key}_images_per_sec"] = round(limits[name].images_per_sec, 2)
            info[f"{key}_pct"] = round(100 * rate / limits[name].images_per_sec, 1)
    return info


def incomplete_case_info(case: Case, epoch: str, timed: TimedEpochs, index: DatasetIndex) -> dict[str, Any] | None:
    """The record of a case with an epoch, timed or not, that saw another number of images than ``index`` holds
    (:mod:`pipelines.harness.complete`): what was built, the counts and the dataset, and no rate or round, so that no
    reader can take its times for a throughput; ``None`` when every epoch saw every image."""
    counts = incomplete_info(timed.epoch_images, index.images)
    if counts is None:
        return None
    return {"case": case.id, "loader": case.loader, "cache": case.cache, "placement": case.placement, "epoch": epoch,
            **counts, **dataset_info(index)}


def reference_info(name: str, timed: TimedEpochs, cores: int = 1) -> dict[str, Any]:
    """A reference case (``decode-limit``, ``machine-limit``: one thread x ``cores``, ``model-only``)."""
    info = {"case": name, "loader": name, "cache": "none", "placement": "uint8", "epoch": "warm",
            **_rounds_info(timed)}
    if cores != 1:
        info["one_thread_images_per_sec"] = info["images_per_sec"]
        info["images_per_sec"] = round(timed.images_per_sec() * cores, 2)
        info["cores"] = cores
    if name == "model-only":
        info.update(placement="float32", model_images_per_sec=info["images_per_sec"],
                    epoch_s=round(timed.median_seconds(), 3))
    return info


def training_info(timed: TimedEpochs, model_only: Rate, idg: Rate | None, device: str) -> dict[str, Any]:
    """Epoch time, utilisation and a verdict that claims no more than the rounds' spread allows.

    ``idg``: ImageDataGenerator's epochs of the same kind this session, for the speed-up, if they ran.
    """
    epoch_s = timed.median_seconds()
    share = utilisation(timed.images, model_only.images_per_sec, epoch_s)
    band = noise_band(timed.spread(), model_only.spread)
    speedup = idg.epoch_s / epoch_s if idg else None
    return {
        "epoch_s": round(epoch_s, 3),
        "epoch_spread": round(timed.spread(), 4),
        "fit_overhead_s": round(timed.median_overhead_s(), 3),
        "model_images_per_sec": round(model_only.images_per_sec, 2),
        "model_spread": round(model_only.spread, 4),
        "utilisation": round(share, 3),
        "noise_band": round(band, 4),
        "verdict": verdict(share, band, cpu_only=device.startswith("CPU")),
        "speedup_vs_idg": round(speedup, 3) if speedup else None,
        "speedup_spread": round(noise_band(timed.spread(), idg.spread), 4) if idg else None,
    }


def _share(value: float | None) -> float | None:
    return None if value is None else round(value, 4)
