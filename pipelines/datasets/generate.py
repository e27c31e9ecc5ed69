"""Write a generated dataset to disk: class-per-folder JPEGs, in parallel, resumable, reused when complete.

Rules that keep a user's data safe and a run honest:

* a folder that is not empty and has no manifest is not ours: it is never written into.
* a complete dataset with the same recipe is reused without touching a file.
* an interrupted one (manifest says ``complete: false``, or files missing) is completed: each image is written
  to a temporary name and renamed, so an existing file is always whole, and only missing files are made.
* a dataset of ours with another recipe (other seed, count, generator version) is rebuilt from scratch.
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

from pipelines.config import Preset
from pipelines.datasets.manifest import MANIFEST_NAME, Manifest, read_manifest
from pipelines.datasets.synth import (
    GENERATOR_VERSION,
    ImageSpec,
    calibrate_quality,
    encode_jpeg,
    image_specs,
    synthesize,
)
from pipelines.datasets.validate import DatasetError

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
    return {"generator_version": GENERATOR_VERSION, "seed": seed, **_jsonable(data)}


def image_path(folder: Path, class_names: tuple[str, ...], spec: ImageSpec) -> Path:
    name = class_names[spec.class_index]
    return folder / name / f"{name}.{spec.index:06d}.jpg"


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
        shutil.rmtree(folder)
        folder.mkdir(parents=True)
        existing = None

    quality = existing.jpeg_quality if existing and existing.recipe == wanted and existing.jpeg_quality else None
    quality = quality or calibrate_quality(preset, seed)
    Manifest(wanted, complete=False, jpeg_quality=quality, class_names=class_names).write(folder)
    for name in class_names:
        (folder / name).mkdir(exist_ok=True)
    for leftover in folder.glob("*/.*.tmp"):  # half-written images of an interrupted run
        leftover.unlink()

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


def exit_with_parent(parent_pid: int, poll_s: float = 0.5) -> None:
    """Worker initialiser: exit when the process that started this worker is gone.

    A pool's workers wait for work on a queue; when their parent is killed (``kill -9``, an OOM kill, a closed
    terminal) nothing tells them, and they stay behind idle. A daemon thread notices that the parent changed
    (the orphan is re-parented) and ends the worker.
    """
    import threading
    import time

    def watch() -> None:
        while os.getppid() == parent_pid:
            time.sleep(poll_s)
        os._exit(1)

    threading.Thread(target=watch, name="exit-with-parent", daemon=True).start()


def _claim(folder: Path, wanted: dict[str, Any]) -> None:
    """Make sure ``folder`` is ours to write: new, empty, or a dataset of ours (rebuilt if its recipe differs)."""
    if folder.exists() and not folder.is_dir():
        raise DatasetError(f"dataset path exists and is not a folder: {folder}")
    folder.mkdir(parents=True, exist_ok=True)
    if not (folder / MANIFEST_NAME).exists():
        if any(folder.iterdir()):
            raise DatasetError(
                f"refusing to generate into {folder}: it is not empty and has no {MANIFEST_NAME}, "
                "so it is not a dataset this suite made -- choose another folder"
            )
        return
    existing = read_manifest(folder)
    if existing is None or existing.recipe != wanted:
        # Ours (it has our manifest) but made differently, or its manifest is damaged: start again.
        shutil.rmtree(folder)
        folder.mkdir(parents=True)


def _intact(paths: list[Path], manifest: Manifest) -> bool:
    """Every file is there, and the bytes add up to what the manifest recorded."""
    try:
        return len(paths) == manifest.images and sum(p.stat().st_size for p in paths) == manifest.bytes
    except FileNotFoundError:
        return False


def _write_image(job: tuple[ImageSpec, Path, Preset, int, int]) -> int:
    spec, path, preset, seed, quality = job
    data = encode_jpeg(synthesize(spec, preset, seed), quality)
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
