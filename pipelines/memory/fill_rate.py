"""What a fresh byte costs a tf.data memory cache: the same cache filled twice in a new process, first into memory
the process never held, then into the memory the first fill freed -- the difference is the time the kernel spends
handing out pages (:mod:`pipelines.epoch.faults`), which a study's law, fitted on small fills, does not see.

The cost is counted in the kernel's CPU seconds, spread over the cores: a loader epoch that decodes on every
core loses that much of them, where the probe's own wall time, with nothing to decode, would say how fast the
kernel hands out pages alone.

The probe fills the cache with tensors of the contract's image shape and dtype made from one image (no
decoding: the fill alone), through the same ``map`` -> ``cache`` -> ``batch`` -> ``prefetch`` a tf.data
builder uses, so its allocations are the pipeline's: a tensor of an image's size at a time, on the map's
threads. It runs in a child process, so no memory the study process kept from earlier epochs serves the
first fill, and at the size and in the dtype of the cache it stands for, since what a page costs can change
with how much is asked for (on a VM, pages the host still backs come cheap and the rest wait for the host to back
them) and with the tensors' size: a float32 cache's second fill reuses the memory the first freed, while a uint8
cache's goes back to the kernel as it is freed and its second fill faults every page in again -- there the whole of
a fill's kernel time is its pages'. A VM's price for a fresh page also moves with what its guest did before, so a
study probes before and after its epochs and gives the error at each (:func:`fill_seconds` takes their mean).

Run as ``python -m pipelines.memory.fill_rate --bytes 7.2GB --placement float32`` it prints the line
(``--json``: the record).
"""

from __future__ import annotations

import json
import math
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace

from pipelines.epoch.faults import FaultMeter, PageFaults
from pipelines.loaders.contract import IMAGE_SIZE, PLACEMENT
from pipelines.machine import available_cores
from pipelines.memory.predict import DTYPE_BYTES
from pipelines.options import Option, add_options, command_parser
from pipelines.values import size
from pipelines.units import format_bytes, nearest_in_size, one_per_group


#: Share of the first fill's page faults under which the second fill counts as reusing the memory it freed.
REUSED_FAULTS = 0.1

#: Fills whose sizes are within this share of each other stand for the same cache size.
SAME_SIZE = 0.25

BYTES = Option("--bytes", "the cache's size, e.g. 7.2GB (whole images: rounded down to them)", parse=size,
               metavar="SIZE", required=True)
JSON = Option("--json", "print the record as JSON instead of the line", parse=None, default=False)


@dataclass(frozen=True)
class MemoryFill:
    """A memory cache of ``nbytes`` filled twice in a fresh process.

    Attributes:
        nbytes: the cached tensors' bytes (whole images).
        placement: their dtype (``uint8``, ``float32``).
        cores: the cores the child could run on.
        fresh_s, again_s: seconds of the first fill (fresh pages) and of the second (memory the first freed).
        fresh_faults, again_faults: the page faults and kernel time of each.
        when: when it was probed (``before the epochs``, ``after the epochs``; empty: alone).
    """

    nbytes: int
    placement: str
    cores: int
    fresh_s: float
    again_s: float
    fresh_faults: PageFaults
    again_faults: PageFaults
    when: str = ""

    def __post_init__(self) -> None:
        for name in ("fresh_faults", "again_faults"):  # dicts, as study.json saved them
            if isinstance(getattr(self, name), dict):
                object.__setattr__(self, name, PageFaults(**getattr(self, name)))

    @property
    def reused(self) -> bool:
        """Whether the second fill reused the memory the first freed (faulted under :data:`REUSED_FAULTS` of the
        first's pages): else this dtype's memory went back to the kernel and every fill pays its pages."""
        return self.again_faults.faults < REUSED_FAULTS * self.fresh_faults.faults

    @property
    def seconds_a_byte(self) -> float:
        """What a fresh byte adds to an epoch that keeps every core busy: the kernel's seconds beyond those of a
        fill into memory the process holds (none, where no fill :attr:`reused` it), a byte, over the cores."""
        held_s = self.again_faults.kernel_s if self.reused else 0.0
        extra = max(self.fresh_faults.kernel_s - held_s, 0.0)
        return extra / self.cores / self.nbytes if self.nbytes and self.cores else 0.0

    def line(self) -> str:
        """``a 7.2 GB float32 memory cache filled in 12.8 s into fresh memory (7.5 GB of pages faulted in, 20.8 s
        in the kernel), 1.8 s again into the memory it freed (0.2 s): 1.43 s a fresh GB on 2 cores before the
        epochs``."""
        again = (f"{self.again_s:.1f} s again into the memory it freed ({self.again_faults.kernel_s:.1f} s)"
                 if self.reused else
                 f"{self.again_s:.1f} s again, its pages faulted in afresh "
                 f"({format_bytes(self.again_faults.fault_bytes)}, {self.again_faults.kernel_s:.1f} s: freed memory "
                 "went back to the kernel)")
        return (f"a {format_bytes(self.nbytes)} {self.placement} memory cache filled in {self.fresh_s:.1f} s into "
                f"fresh memory ({format_bytes(self.fresh_faults.fault_bytes)} of pages faulted in, "
                f"{self.fresh_faults.kernel_s:.1f} s in the kernel), {again}: {self.seconds_a_byte * 1e9:.2f} s a "
                f"fresh GB on {self.cores} core{'s' if self.cores != 1 else ''}"
                + (f" {self.when}" if self.when else ""))


def fill_seconds(fills: Sequence[MemoryFill], cache_bytes: float, placement: str | None = None) -> float:
    """Seconds a memory cache of ``cache_bytes`` in ``placement`` spends on fresh pages as it fills, at the mean
    cost a byte of the fills measured nearest its size (by ratio; within :data:`SAME_SIZE` of it: the probes
    before and after the epochs), in its dtype where one was measured -- 0 where none was."""
    fills = [f for f in fills if f.placement == placement] or list(fills)
    nearest = nearest_in_size(fills, cache_bytes, lambda f: f.nbytes)
    if not nearest:
        return 0.0
    same = [f for f in fills if abs(math.log(f.nbytes / nearest.nbytes)) <= math.log1p(SAME_SIZE)]
    return cache_bytes * statistics.fmean(f.seconds_a_byte for f in same)


def sizes_to_fill(caches: Sequence[tuple[float, str]], room: float,
                  within: float = SAME_SIZE) -> list[tuple[int, str]]:
    """The fills to measure for memory caches of ``(bytes, placement)``: each in its dtype and at most ``room``
    (a probe must leave the process and the page cache theirs), one per dtype and group of sizes within
    ``within`` of each other."""
    return [(size, placement) for placement in sorted({p for _, p in caches})
            for size in one_per_group({int(min(b, room)) for b, p in caches if b > 0 and p == placement}, within)]


def fill_twice(nbytes: int, placement: str, image_size: tuple[int, int]) -> MemoryFill:
    """In this process: the cache of ``nbytes`` (whole images) filled, freed, and filled again, by a ``map`` on
    every core with tf.data's autotuning off (:func:`~pipelines.loaders.tfops.without_autotune`), so that a fill
    ends when its work does."""
    import gc

    import tensorflow as tf

    from pipelines.loaders.tfops import without_autotune

    height, width = image_size
    cores = available_cores()
    images = max(1, nbytes // (height * width * 3 * DTYPE_BYTES[placement]))
    image = tf.cast(tf.random.uniform((height, width, 3), 0, 255), placement)

    def fill() -> tuple[float, PageFaults]:
        dataset = without_autotune(tf.data.Dataset.range(images)
                                   .map(lambda i: image + tf.cast(i % 2, image.dtype), num_parallel_calls=cores)
                                   .cache().batch(32).prefetch(2))
        meter = FaultMeter()
        meter.start()
        start = time.perf_counter()
        for batch in dataset:
            batch.numpy()
        seconds = time.perf_counter() - start
        faults = meter.stop()
        del dataset, batch
        gc.collect()
        return seconds, faults

    (fresh_s, fresh), (again_s, again) = fill(), fill()
    return MemoryFill(images * height * width * 3 * DTYPE_BYTES[placement], placement, cores, fresh_s,
                      again_s, fresh, again)


def measure_memory_fill(nbytes: int, placement: str, image_size: tuple[int, int], when: str = "",
                        timeout_s: float = 1800) -> MemoryFill:
    """:func:`fill_twice` in a child process (a new one: nothing this process holds serves its first fill),
    recorded as probed ``when``."""
    command = [sys.executable, "-m", "pipelines.memory.fill_rate", BYTES.flag, f"{nbytes}B", PLACEMENT.flag,
               placement, IMAGE_SIZE.flag, f"{image_size[0]},{image_size[1]}", JSON.flag]
    done = subprocess.run(command, capture_output=True, text=True, timeout=timeout_s)
    if done.returncode != 0:
        raise RuntimeError(f"the memory fill probe failed ({done.returncode}): {done.stderr.strip()[-500:]}")
    return replace(MemoryFill(**json.loads(done.stdout.strip().splitlines()[-1])), when=when)


def main(argv: list[str] | None = None) -> int:
    parser = command_parser("python -m pipelines.memory.fill_rate", __doc__)
    add_options(parser.add_argument, BYTES, PLACEMENT, IMAGE_SIZE, JSON, defaults={"placement": "float32"})
    args = parser.parse_args(argv)
    height, width = args.image_size
    fill = fill_twice(args.bytes, args.placement, (height, width))  # imports TensorFlow, once the options are read
    print(json.dumps(asdict(fill)) if args.json else fill.line())
    return 0


if __name__ == "__main__":
    sys.exit(main())
