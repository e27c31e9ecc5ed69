"""What a fresh byte costs a tf.data memory cache: the same cache filled twice in a new process, first into memory
the process never held, then into the memory the first fill freed -- the difference is the time the kernel spends
handing out pages (:mod:`pipelines.memory.faults`), which a study's law, fitted on small fills, does not see.

The cost is counted in the kernel's CPU seconds, spread over the cores: a loader epoch that decodes on every
core loses that much of them, where the probe's own wall time, with nothing to decode, would say how fast the
kernel hands out pages alone.

The probe fills the cache with tensors of the contract's image shape and dtype made from one image (no
decoding: the fill alone), through the same ``map`` -> ``cache`` -> ``batch`` -> ``prefetch`` a tf.data
builder uses, so its allocations are the pipeline's: a tensor of an image's size at a time, on the map's
threads. It runs in a child process, so no memory the study process kept from earlier epochs serves the
first fill, and at the size of the cache it stands for, since what a page costs can change with how much is
asked for: on a VM, pages the host still backs come cheap and the rest wait for the host to back them.

Run as ``python -m pipelines.memory.fill_rate --bytes 7.2GB --placement float32`` it prints the line
(``--json``: the record).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass

from pipelines.machine import available_cores
from pipelines.memory.faults import FaultMeter, PageFaults
from pipelines.memory.predict import DTYPE_BYTES
from pipelines.units import format_bytes, nearest_in_size, one_per_group, parse_bytes


@dataclass(frozen=True)
class MemoryFill:
    """A memory cache of ``nbytes`` filled twice in a fresh process.

    Attributes:
        nbytes: the cached tensors' bytes (whole images).
        placement: their dtype (``uint8``, ``float32``).
        cores: the cores the child could run on.
        fresh_s, again_s: seconds of the first fill (fresh pages) and of the second (memory the first freed).
        fresh_faults, again_faults: the page faults and kernel time of each.
    """

    nbytes: int
    placement: str
    cores: int
    fresh_s: float
    again_s: float
    fresh_faults: PageFaults
    again_faults: PageFaults

    def __post_init__(self) -> None:
        for name in ("fresh_faults", "again_faults"):  # dicts, as study.json saved them
            if isinstance(getattr(self, name), dict):
                object.__setattr__(self, name, PageFaults(**getattr(self, name)))

    @property
    def seconds_a_byte(self) -> float:
        """What a fresh byte adds to an epoch that keeps every core busy: the kernel's seconds beyond those of a
        fill into memory the process holds, a byte, over the cores."""
        extra = max(self.fresh_faults.kernel_s - self.again_faults.kernel_s, 0.0)
        return extra / self.cores / self.nbytes if self.nbytes and self.cores else 0.0

    def line(self) -> str:
        """``a 7.2 GB float32 memory cache filled in 12.8 s into fresh memory (7.5 GB of pages faulted in, 20.8 s
        in the kernel), 1.8 s again into the memory it freed (0.2 s): 1.43 s a fresh GB on 2 cores``."""
        return (f"a {format_bytes(self.nbytes)} {self.placement} memory cache filled in {self.fresh_s:.1f} s into "
                f"fresh memory ({format_bytes(self.fresh_faults.fault_bytes)} of pages faulted in, "
                f"{self.fresh_faults.kernel_s:.1f} s in the kernel), {self.again_s:.1f} s again into the memory it "
                f"freed ({self.again_faults.kernel_s:.1f} s): {self.seconds_a_byte * 1e9:.2f} s a fresh GB on "
                f"{self.cores} core{'s' if self.cores != 1 else ''}")


def fill_seconds(fills: Sequence[MemoryFill], cache_bytes: float) -> float:
    """Seconds a memory cache of ``cache_bytes`` spends on fresh pages as it fills, at the cost a byte of the
    fill measured nearest its size (by ratio) -- 0 where none was measured."""
    nearest = nearest_in_size(fills, cache_bytes, lambda f: f.nbytes)
    return cache_bytes * nearest.seconds_a_byte if nearest else 0.0


def sizes_to_fill(cache_bytes: Sequence[float], room: float, within: float = 0.25) -> list[int]:
    """The fills to measure for memory caches of ``cache_bytes``: each at most ``room`` (a probe must leave the
    process and the page cache theirs), one per group within ``within`` of each other."""
    return one_per_group({int(min(b, room)) for b in cache_bytes if b > 0}, within)


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


def measure_memory_fill(nbytes: int, placement: str, image_size: tuple[int, int],
                        timeout_s: float = 1800) -> MemoryFill:
    """:func:`fill_twice` in a child process (a new one: nothing this process holds serves its first fill)."""
    command = [sys.executable, "-m", "pipelines.memory.fill_rate", "--bytes", str(nbytes), "--placement",
               placement, "--image-size", f"{image_size[0]},{image_size[1]}", "--json"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=timeout_s)
    if done.returncode != 0:
        raise RuntimeError(f"the memory fill probe failed ({done.returncode}): {done.stderr.strip()[-500:]}")
    return MemoryFill(**json.loads(done.stdout.strip().splitlines()[-1]))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pipelines.memory.fill_rate", description=__doc__.split("\n\n")[0])
    parser.add_argument("--bytes", type=parse_bytes, required=True, help="the cache's size, e.g. 7.2GB")
    parser.add_argument("--placement", choices=sorted(DTYPE_BYTES), default="float32")
    parser.add_argument("--image-size", default="224,224", help="height,width (default %(default)s)")
    parser.add_argument("--json", action="store_true", help="print the record as JSON instead of the line")
    args = parser.parse_args(argv)
    height, width = (int(v) for v in args.image_size.split(","))
    fill = fill_twice(args.bytes, args.placement, (height, width))
    print(json.dumps(asdict(fill)) if args.json else fill.line())
    return 0


if __name__ == "__main__":
    sys.exit(main())
