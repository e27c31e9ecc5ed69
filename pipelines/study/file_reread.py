"""Whether a file cache's later epoch is bound by the storage or by a RAM limit, in minutes and without decoding
a dataset (``python -m pipelines.study.file_reread --images 117266 --ram-limit 16GB``).

The study predicts a file cache's later epoch from one sequential read of a file of the cache's size
(:func:`~pipelines.caches.bandwidth.measure_bandwidth`). Where an epoch misses it by far, three causes look
alike in its time: the volume serving that minute's reads slower, the RAM limit's page cache reclaimed while
the cache is read back, or tf.data's cache reader reading slower than a plain read. Measuring them on the real
cache would take a first epoch of decoding first (14 minutes at full size on 2 cores). This writes a cache of the
same bytes instead -- random pixels, ``images`` images of the contract's size in uint8, written by tf.data's own
file cache -- and then, in turns, reads it back:

* under ``--ram-limit``, after an untimed warm-up epoch: the state a study's later epoch meets, the limit's
  page cache full of the cache's own tail;
* without a limit, evicted first;

each time through the study's pipeline after the cache (:func:`~pipelines.loaders.tfops.finish_pipeline`:
shuffle, batch, normalise) and then by a plain sequential read of the same file, evicted first, with the disks'
counters beside every pass. Like for like: if the pipeline's pass and the plain read agree, the reader is not
the cause; if the limited and unlimited passes agree, the limit is not. The cache is removed afterwards,
also when the run is stopped.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path

from pipelines.caches.bandwidth import read_through
from pipelines.caches.diskstats import StorageMeter, StorageTraffic
from pipelines.caches.pagecache import evict
from pipelines.cleanup.scratch import scratch_folder
from pipelines.datasets.options import IMAGES
from pipelines.limits.cgroup import CgroupUnavailable, Limits
from pipelines.limits.session import RAM_LIMIT
from pipelines.loaders.contract import CACHE_DIR
from pipelines.memory.predict import free_disk
from pipelines.options import Option, add_options, command_parser
from pipelines.values import count
from pipelines.units import format_bytes

#: Classes the synthetic labels cycle through (coco2017's count: the labels' bytes are a rounding error).
CLASSES = 80


@dataclass(frozen=True)
class RereadSettings:
    """What :func:`reread` measures.

    Attributes:
        images: images in the cache (117,266: coco2017's full size, a 17.7 GB uint8 cache).
        ram_limit: bytes of the limit its limited passes run under (``None``: unlimited passes only).
        turns: limited passes (each one followed by an unlimited one, and a last limited one to close:
            ``limit, none, limit`` for one turn), so that a volume's drift over minutes shows as a difference
            between passes of the same kind.
        image_size: ``(height, width)`` of the cached images.
        cache_dir: where the cache is written (default: the temporary folder, where file caches go).
    """

    images: int = 117_266
    ram_limit: int | None = None
    turns: int = 1
    image_size: tuple[int, int] = (224, 224)
    cache_dir: Path | None = None

    def __post_init__(self) -> None:
        if self.images < 1 or self.turns < 1:
            raise ValueError(f"--images and --turns must be at least 1, got {self.images} and {self.turns}")

    @property
    def cache_bytes(self) -> int:
        height, width = self.image_size
        return self.images * height * width * 3

    def passes(self) -> list[bool]:
        """Whether each pass runs under the limit, in order."""
        if self.ram_limit is None:
            return [False] * self.turns
        return [True, False] * self.turns + [True]


@dataclass(frozen=True)
class Pass:
    """One read of the cache: ``how`` (``pipeline`` or ``plain read``), under the limit or not, its seconds and
    the disks' counters meanwhile."""

    how: str
    limited: bool
    seconds: float
    cache_bytes: int
    storage: StorageTraffic | None

    def line(self, limit: int | None) -> str:
        state = (f"under {format_bytes(limit)}, " if self.limited else "no limit, ") + (
            "after a warm-up" if self.limited and self.how == "pipeline" else "evicted first")
        counted = f"; {self.storage.line()}" if self.storage else ""
        return (f"{self.how:<10} {state:<32} {self.seconds:7.1f} s  "
                f"{format_bytes(self.cache_bytes / self.seconds)}/s{counted}")


def _timed(how: str, limited: bool, size: int, read: Callable[[], None]) -> Pass:
    meter = StorageMeter()
    meter.start()
    start = time.perf_counter()
    read()
    seconds = time.perf_counter() - start
    return Pass(how, limited, seconds, size, meter.stop())


def reread(settings: RereadSettings, progress: Callable[[str], None] = lambda line: None) -> Iterator[Pass]:
    """The passes of ``settings``, each as it ends; ``progress`` hears what is being done. Raises
    :class:`~pipelines.limits.cgroup.CgroupUnavailable` where the limit cannot be made, before writing."""
    import tensorflow as tf

    from pipelines.limits.make import make_cgroup
    from pipelines.limits.session import limit_this_process, release
    from pipelines.loaders.contract import Contract
    from pipelines.loaders.tfops import finish_pipeline

    if settings.ram_limit is not None:
        make_cgroup(Limits(settings.ram_limit), watch=False).remove()  # refused now, not after the write
    free = free_disk(settings.cache_dir)
    if settings.cache_bytes * 1.05 > free:
        raise ValueError(f"a cache of {settings.images:,} images takes {format_bytes(settings.cache_bytes)}; "
                         f"{format_bytes(free)} is free in {settings.cache_dir or 'the temporary folder'}")
    height, width = settings.image_size
    contract = Contract(image_size=settings.image_size).with_(cache="file", placement="uint8")

    def synthetic(i):
        pixels = tf.random.stateless_uniform([height, width, 3], seed=tf.stack([i, tf.constant(0, tf.int64)]),
                                             maxval=256, dtype=tf.int32)
        return tf.cast(pixels, tf.uint8), tf.cast(i % CLASSES, tf.int32)

    with scratch_folder("reread", settings.cache_dir) as folder:
        source = tf.data.Dataset.range(settings.images).map(synthetic, num_parallel_calls=tf.data.AUTOTUNE)
        dataset = finish_pipeline(source, contract, CLASSES, settings.images, folder / "cache",
                                  shuffled_upstream=False)

        def epoch() -> None:
            images = sum(int(batch.shape[0]) for batch, _labels in dataset)  # eager batches: computed already
            if images != settings.images:
                raise RuntimeError(f"the cache gave {images:,} images of {settings.images:,}")

        progress(f"writing the cache: {format_bytes(settings.cache_bytes)}")
        epoch()
        files = sorted(folder.glob("cache*.data-*"))
        size = sum(f.stat().st_size for f in files)
        for limited in settings.passes():
            evict(files)
            cgroup = limit_this_process(Limits(settings.ram_limit)) if limited else None
            try:
                if limited:
                    progress("warm-up epoch under the limit")
                    epoch()
                progress(f"the pipeline's pass{' under the limit' if limited else ''}")
                yield _timed("pipeline", limited, size, epoch)
                evict(files)
                progress(f"a plain read{' under the limit' if limited else ''}")
                yield _timed("plain read", limited, size, lambda: read_through(files))
            finally:
                if cgroup is not None:
                    release(cgroup)


TURNS = Option("--turns", "limited passes, each followed by an unlimited one (and a last limited one to close)",
               parse=count, default=RereadSettings.turns, metavar="N")


def main(argv: list[str] | None = None) -> int:
    parser = command_parser("python -m pipelines.study.file_reread", __doc__)
    add_options(parser.add_argument,
                replace(IMAGES, help="images in the cache (117,266: coco2017's full size, a 17.7 GB uint8 cache)"),
                replace(RAM_LIMIT, help="the limit of the limited passes, e.g. 16GB",
                        default_text="none: unlimited passes only"),
                TURNS, CACHE_DIR, defaults={"images": RereadSettings.images})
    args = parser.parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    try:
        settings = RereadSettings(args.images, args.ram_limit, args.turns, cache_dir=args.cache_dir)
    except ValueError as error:
        parser.error(str(error))
    print(f"a uint8 file cache of {settings.images:,} images ({format_bytes(settings.cache_bytes)}), read back "
          "by the study's pipeline and by a plain read, the disks' counters beside:")
    try:
        for done in reread(settings, progress=lambda line: print(f"  ... {line}", file=sys.stderr, flush=True)):
            print(done.line(settings.ram_limit), flush=True)
    except (CgroupUnavailable, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
