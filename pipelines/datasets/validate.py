"""Check a class-per-folder image tree before anything is timed, and index it the way Keras does.

A missing folder, an empty class or a corrupt JPEG must stop a run with a message naming the path, not with
a traceback from inside a tf.data iterator twenty minutes into an epoch. Every loader then reads exactly the
files indexed here: the same order (classes sorted, files sorted within ``os.walk``), the same labels.

Policy for odd files (the same for every loader, because it is applied before any loader is built):

* PNG, BMP, grayscale, palette and CMYK images are accepted: every loader converts them to RGB.
* a file with another extension (``.txt``, ``.gif``, ``.tiff``...) is an error naming it: the loaders disagree
  on which of those they read, so results would not be comparable.
* hidden class folders at the top are ignored; inside a class folder, hidden files that are not images
  (``.DS_Store``) are skipped, and images are read wherever they are, hidden folders included, because Keras'
  own indexer (used by two of the loaders) reads them too.
* a corrupt, truncated or unreadable file, or one with an image extension that is no image, is an error naming
  it (found by decoding every file when ``deep`` is on, the default for folders the suite did not make).
* a generated dataset whose generation did not finish (its manifest says so) is an error: it is short of images.

Every problem found is reported at once, in one error: a user fixing a folder of 100,000 photos should not learn
of its faults one kind per run.
"""

from __future__ import annotations

import os
import warnings
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from PIL import Image
from tqdm import tqdm

from pipelines.datasets.manifest import read_manifest

#: Image file extensions that every loader reads (the intersection of what Keras'
#: ``image_dataset_from_directory``, ``ImageDataGenerator`` and ``tf.io.decode_image`` accept).
IMAGE_EXTENSIONS: tuple[str, ...] = (".jpg", ".jpeg", ".png", ".bmp")

#: Problems listed in full in an error; beyond this many of one kind, a count.
_SHOWN_PER_KIND = 10


class DatasetError(ValueError):
    """A dataset folder cannot be used as it is; the message names the path and what to do."""


@dataclass(frozen=True)
class DatasetIndex:
    """The files of a dataset folder in the order every loader reads them.

    Attributes:
        root: the dataset folder.
        class_names: class folder names, sorted; a label is an index into this tuple.
        paths: image files, class by class, sorted within each class as ``os.walk`` yields them.
        labels: class index of each path.
        bytes: total size of the image files.
    """

    root: Path
    class_names: tuple[str, ...]
    paths: tuple[Path, ...]
    labels: tuple[int, ...]
    bytes: int

    @property
    def images(self) -> int:
        return len(self.paths)

    @property
    def name(self) -> str:
        return self.root.name


def index_dataset(root: Path | str) -> DatasetIndex:
    """Index ``root`` (class folders of image files) and reject what no loader can use. Reads no pixels."""
    index, problems = _scan(Path(root).expanduser())
    _raise_if(problems, Path(root).expanduser())
    return index


def validate_dataset(root: Path | str, deep: bool = True, progress: bool = True) -> DatasetIndex:
    """:func:`index_dataset`, then (``deep``) decode every file with Pillow to find corrupt ones, and check that
    a generated dataset was finished; every problem of every kind is reported in one error."""
    root = Path(root).expanduser()
    index, problems = _scan(root)
    problems += _manifest_problems(root)
    if len(index.class_names) < 2:  # a classifier of one class learns nothing, and training cases are the point
        problems.append(f"class folder {index.class_names[0]!r} is the only one: a classifier needs two at least "
                        f"-- expected {root}/<class>/<image files> for each class")
    if deep and index.paths:
        with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:  # Pillow decodes without the GIL
            problems += [
                p
                for p in tqdm(
                    pool.map(_decode_problem, index.paths),
                    total=index.images,
                    desc=f"checking {index.name}",
                    unit="img",
                    disable=not progress or None,
                    leave=False,
                )
                if p
            ]
    _raise_if(problems, root)
    return index


def _scan(root: Path) -> tuple[DatasetIndex, list[str]]:
    """The index of what is usable, and a line per problem found (empty classes, files no loader reads).

    A missing folder, a file instead of a folder or no class folders at all leave nothing to scan: those
    raise at once.
    """
    if not root.exists():
        raise DatasetError(
            f"dataset folder does not exist: {root} -- pass an existing class-per-folder tree, "
            "or make one with `python -m pipelines.datasets generate`"
        )
    if not root.is_dir():
        raise DatasetError(f"dataset path is not a folder: {root} -- expected {root}/<class>/<image files>")
    class_names = tuple(sorted(e.name for e in os.scandir(root) if e.is_dir() and not e.name.startswith(".")))
    if not class_names:
        raise DatasetError(f"no class folders in {root} -- expected {root}/<class>/<image files>")

    paths: list[Path] = []
    labels: list[int] = []
    problems: list[str] = []
    for label, name in enumerate(class_names):
        files, others = _class_files(root / name)
        problems += [f"not an image file: {path} -- every loader reads {', '.join(IMAGE_EXTENSIONS)}; "
                     "move other files out of the class folders" for path in others]
        if not files:
            problems.append(f"class folder has no images: {root / name} -- remove it or add images")
        paths += files
        labels += [label] * len(files)
    total = sum(p.stat().st_size for p in paths)
    return DatasetIndex(root, class_names, tuple(paths), tuple(labels), total), problems


def _manifest_problems(root: Path) -> list[str]:
    """A generated dataset whose manifest says its generation never finished (a ``manifest.json`` that this
    suite did not write is someone else's file: it says nothing about the tree)."""
    manifest = read_manifest(root)  # None too for a manifest.json that is not ours: a plain tree, then
    if manifest is not None and not manifest.complete:
        wanted = manifest.recipe.get("images", "?")
        have = sum(1 for p in root.rglob("*") if p.suffix.lower() in IMAGE_EXTENSIONS)
        return [f"incomplete generated dataset: {root} holds {have:,} of {wanted:,} images (its generation was "
                "interrupted) -- run `python -m pipelines.datasets generate` again with the same options to "
                "complete it"]
    return []


def _raise_if(problems: list[str], root: Path) -> None:
    if not problems:
        return
    kinds: dict[str, list[str]] = {}
    for problem in problems:
        kinds.setdefault(_kind(problem), []).append(problem)
    lines = []
    for found in kinds.values():
        lines += found[:_SHOWN_PER_KIND]
        if len(found) > _SHOWN_PER_KIND:
            lines.append(f"... and {len(found) - _SHOWN_PER_KIND} more like the above")
    counts = ", ".join(f"{len(found)} {kind}" for kind, found in kinds.items())
    raise DatasetError(f"{root} cannot be used as it is ({counts}) -- fix these and run again:\n  "
                       + "\n  ".join(lines))


def _kind(problem: str) -> str:
    for prefix, kind in (("not an image file", "unsupported file(s)"), ("class folder has no", "empty class(es)"),
                         ("class folder '", "too few classes"),
                         ("incomplete generated", "incomplete dataset")):
        if problem.startswith(prefix):
            return kind
    return "unreadable image file(s)"


def _class_files(class_dir: Path) -> tuple[list[Path], list[Path]]:
    """Image files under ``class_dir`` in Keras' order (hidden folders included, as Keras reads them), and the
    visible files no loader reads; hidden non-image files (``.DS_Store``) are skipped."""
    images, others = [], []
    for folder, _, files in sorted(os.walk(class_dir), key=lambda entry: entry[0]):
        for name in sorted(files):
            path = Path(folder) / name
            if path.suffix.lower() in IMAGE_EXTENSIONS:
                images.append(path)
            elif not name.startswith("."):
                others.append(path)
    return images, others


def _decode_problem(path: Path) -> str | None:
    """``None`` if Pillow decodes ``path`` completely, else a line naming the file and the fault."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as image:
                image.load()
                if image.width < 1 or image.height < 1:
                    return f"{path}: empty image"
    except PermissionError:
        return f"{path}: not readable (permission denied)"
    except Exception as error:  # noqa: BLE001 -- any decoder fault means the same thing: unusable file
        return f"{path}: {type(error).__name__}: {error}"
    return None
