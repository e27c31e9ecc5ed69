"""Write a generated dataset to disk: class-per-folder JPEGs, in parallel, resumable, reused when complete.

Rules that keep a user's data safe and a run honest:

* a folder that is not empty and has no manifest of ours (one that names this tool: a ``manifest.json`` of
  anyone else's does not count) is not ours: it is never written into, and nothing in it is removed.
* a complete dataset with the same recipe is reused without touching a file.
* an interrupted one (manifest says ``complete: false``, or files missing) is completed: each image is written
  to a temporary name and renamed, so an existing file is always whole, and only missing files are made.
* a dataset of ours with another recipe (other seed, count, generator version) is rebuilt from scratch: its
  images are removed through :func:`pipelines.cleanup.ownership.remove_made`, which refuses (naming the file, removing
  nothing) when the folder holds anything the generator did not write.
"""

from __future__ import annotations

import os
import shutil
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass
from multiprocessing import get_context
from pathlib import Path
from typing import Any

from tqdm import tqdm

from pipelines.cleanup.children import exit_with_parent
from pipelines.datasets.presets import Preset
from pipelines.datasets.manifest import MANIFEST_NAME, Manifest, dataset_claim, read_manifest
from pipelines.datasets.synth import (
    GENERATOR_VERSION,
    ImageSpec,
    calibrate_quality,
    encode,
    image_specs,
    picture,
)
from pipelines.datasets.validate import DatasetError
from pipelines.cleanup.ownership import RemovalRefused, remove_made
from pipelines.units import format_bytes

# Below this many images, starting worker processes costs more than it saves.
_PARALLEL_FROM = 64


@dataclass(frozen=True)
class GeneratedDataset:
    """A dataset folder that is complete on return.

    Attributes:
        path: the folder.
        manifest: its (complete) manifest.
        written: images written by this call (0 when an existing dataset was reused).
    """

    path: Path
    manifest: Manifest
    written: int

    @property
    def reused(self) -> bool:
        return self.written == 0


def dataset_folder_name(preset: Preset, seed: int) -> str:
    """``smoke-300-s0``: preset, image count and seed, so scaled sets never overwrite each other."""
    return f"{preset.name}-{preset.images}-s{seed}"


def recipe(preset: Preset, seed: int) -> dict[str, Any]:
    """Everything the bytes depend on, as plain JSON data."""
    data = asdict(preset)
    data.pop("description")
    for name in ("source", "png_every"):  # at their defaults, left out: datasets made before they existed match
        if data[name] == Preset.__dataclass_fields__[name].default:
            data.pop(name)
    return {"generator_version": GENERATOR_VERSION, "seed": seed, **_jsonable(data)}


def image_path(folder: Path, class_names: tuple[str, ...], spec: ImageSpec) -> Path:
    name = class_names[spec.class_index]
    return folder / name / f"{name}.{spec.index:06d}.{spec.extension}"


def generate(
    preset: Preset,
    folder: Path | str,
    seed: int = 0,
    workers: int | None = None,
    progress: bool = True,
) -> GeneratedDataset:
    """Make (or reuse, or complete) the dataset ``preset`` describes in ``folder``."""
    folder = Path(folder).expanduser()
    wanted = recipe(preset, seed)
    _claim(folder, wanted)

    existing = read_manifest(folder)
    class_names = preset.folder_names
    specs = image_specs(preset, seed)
    paths = [image_path(folder, class_names, s) for s in specs]
    if existing and existing.complete and existing.recipe == wanted:
        if _intact(paths, existing):
            return GeneratedDataset(folder, existing, written=0)
        # Finished once, changed since (a file deleted or edited): which file is unknown, so rebuild it all.
        _empty(folder)
        existing = None

    _check_space(folder, preset, sum(not p.exists() for p in paths))
    quality = existing.jpeg_quality if existing and existing.recipe == wanted and existing.jpeg_quality else None
    quality = quality or calibrate_quality(preset, seed)
    Manifest(wanted, complete=False, jpeg_quality=quality, class_names=class_names).write(folder)
    for name in class_names:
        (folder / name).mkdir(exist_ok=True)
    # Half-written images of an interrupted run: the generator's temporary names only (anything else stays).
    claim = dataset_claim(folder)
    remove_made(folder, claim, files=[p for p in folder.glob("*/.*.tmp") if claim.owns(p.relative_to(folder))])

    todo = [(spec, path, preset, seed, quality) for spec, path in zip(specs, paths, strict=True) if not path.exists()]
    workers = 1 if len(todo) < _PARALLEL_FROM else (workers or os.cpu_count() or 1)
    bar = tqdm(total=len(todo), desc=f"generating {folder.name}", unit="img", disable=not progress or None)
    with bar:
        if workers == 1:
            for job in todo:
                _write_image(job)
                bar.update()
        else:
            # spawn, not fork: the caller may have TensorFlow's threads running, which fork does not copy safely.
            with ProcessPoolExecutor(workers, mp_context=get_context("spawn"), initializer=exit_with_parent,
                                     initargs=(os.getpid(),)) as pool:
                for _ in pool.map(_write_image, todo, chunksize=16):
                    bar.update()

    total = sum(p.stat().st_size for p in paths)
    manifest = Manifest(wanted, complete=True, images=len(paths), bytes=total, jpeg_quality=quality,
                        class_names=class_names)
    manifest.write(folder)
    return GeneratedDataset(folder, manifest, written=len(todo))


#: Room left beside the images a generator plans to write: JPEG sizes scatter around the preset's target.
SPACE_MARGIN = 1.1


def _check_space(folder: Path, preset: Preset, missing: int) -> None:
    """Refuse, before writing anything, a dataset the free disk cannot hold (the images still to write, at the
    preset's bytes an image, with :data:`SPACE_MARGIN`), naming both sizes and what to do."""
    needed = int(missing * preset.target_bytes * SPACE_MARGIN)
    free = shutil.disk_usage(folder).free
    if needed > free:
        raise DatasetError(
            f"generating {folder.name} needs ~{format_bytes(needed)} for the {missing:,} images still to write "
            f"({format_bytes(preset.target_bytes)} each, x{SPACE_MARGIN}) but {format_bytes(free)} is free in "
            f"{folder}: free some space, or choose --data-root on another disk")


def _claim(folder: Path, wanted: dict[str, Any]) -> None:
    """Make sure ``folder`` is ours to write: new, empty, or a dataset of ours (rebuilt if its recipe differs)."""
    if folder.exists() and not folder.is_dir():
        raise DatasetError(f"dataset path exists and is not a folder: {folder}")
    folder.mkdir(parents=True, exist_ok=True)
    existing = read_manifest(folder)
    if existing is None:
        if any(folder.iterdir()):
            found = " (its manifest.json is not one this suite wrote)" if (folder / MANIFEST_NAME).exists() else ""
            raise DatasetError(
                f"refusing to generate into {folder}: it is not empty and has no manifest.json of this suite"
                f"{found}, so it is not a dataset this suite made; nothing in it was changed -- choose another folder"
            )
        return
    if existing.recipe != wanted:
        _empty(folder)  # ours, but made differently: start again


def _empty(folder: Path) -> None:
    """Remove the generated dataset in ``folder`` (the folder stays); refused if anything else is in it."""
    try:
        remove_made(folder, dataset_claim(folder), keep_folder=True)
    except RemovalRefused as error:
        raise DatasetError(str(error)) from None


def _intact(paths: list[Path], manifest: Manifest) -> bool:
    """Every file is there, and the bytes add up to what the manifest recorded."""
    try:
        return len(paths) == manifest.images and sum(p.stat().st_size for p in paths) == manifest.bytes
    except FileNotFoundError:
        return False


def _write_image(job: tuple[ImageSpec, Path, Preset, int, int]) -> int:
    spec, path, preset, seed, quality = job
    data = encode(picture(spec, preset, seed), spec, quality)
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.write_bytes(data)
    os.replace(temporary, path)
    return len(data)


def _jsonable(value: Any) -> Any:
    """Tuples to lists, recursively, so a recipe compares equal to itself after a JSON round trip."""
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    return value
