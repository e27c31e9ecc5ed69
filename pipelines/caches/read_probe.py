"""Whether a dataset's storage reads its files faster with more reads in flight (``python -m
pipelines.caches.read_probe FOLDER --readers 1,2,4,8``).

A loader that reads inside its decoding workers (tf.data's parallel map, ImageDataGenerator's and Grain's
workers) keeps about as many reads in flight as it has cores. A disk that serves many requests at once (an
NVMe drive, a striped cloud volume) reads faster with more; a volume limited in requests a second does not,
and more threads only lengthen each read. This measures which, on the user's own
files: for each count of readers, that many threads read a fresh draw of the dataset's files, evicted first
(:func:`pipelines.caches.bandwidth.measure_file_reads`), every draw disjoint from the others so that no file is
read twice -- a VM host or a network volume keeps what was read lately, and would serve a second read from its
cache. Rounds take the counts in turn, so a volume whose rate drifts over minutes spreads every count alike.
"""

from __future__ import annotations

import random
import statistics
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from pipelines.caches.bandwidth import Bandwidth, measure_file_reads
from pipelines.datasets.validate import DatasetError, index_dataset
from pipelines.options import Option, add_options, command_parser
from pipelines.values import count, counts, existing_folder, natural
from pipelines.units import format_bytes, relative_spread


@dataclass(frozen=True)
class ProbeSettings:
    """What :func:`probe` measures.

    Attributes:
        readers: the counts of threads reading at once, each measured every round.
        files: files read per measurement (fewer where the dataset cannot give every measurement its own).
        rounds: times each count is measured, the counts in turn.
        seed: the draw's seed (``None``: a new draw every run, as the files a previous run read may still be
            cached below this machine).
    """

    readers: tuple[int, ...] = (1, 2, 4, 8)
    files: int = 512
    rounds: int = 2
    seed: int | None = None


@dataclass(frozen=True)
class ReadersRate:
    """One count of readers' measurements: ``rates``, one :class:`Bandwidth` a round."""

    readers: int
    rates: tuple[Bandwidth, ...]

    @property
    def files_per_sec(self) -> list[float]:
        return [r.files * r.read_bps / r.file_bytes for r in self.rates if r.file_bytes]

    def line(self) -> str:
        per_sec = self.files_per_sec
        ms = [r.ms_per_read for r in self.rates if r.ms_per_read]
        mb = statistics.median(r.read_bps for r in self.rates)
        text = (f"{self.readers:>3} reader{'s' if self.readers > 1 else ' '}: "
                f"{statistics.median(per_sec):,.0f} files/s ±{100 * relative_spread(per_sec):.0f}% "
                f"({format_bytes(mb)}/s; rounds {', '.join(f'{r:,.0f}' for r in per_sec)})")
        return text + (f", {statistics.median(ms):.1f} ms a read request" if ms else "")


def draw_size(available: int, count: int, files: int) -> int:
    """Files in each of ``count`` draws from ``available``: ``files``, or an equal share where there are too
    few for that (at least one)."""
    return max(1, min(files, available // count))


def draws(paths: Sequence[Path], count: int, files: int, seed: int | None) -> list[list[Path]]:
    """``count`` disjoint random draws of :func:`draw_size` paths each (where there are fewer paths than
    draws, some are drawn again)."""
    if not paths:
        raise ValueError("no files to read")
    shuffled = list(paths)
    random.Random(seed).shuffle(shuffled)
    each = draw_size(len(shuffled), count, files)
    return [shuffled[(i * each) % len(shuffled):][:each] for i in range(count)]


def plan(settings: ProbeSettings) -> list[int]:
    """The count of readers of each measurement, in order: every count in turn, round after round."""
    return [readers for _ in range(settings.rounds) for readers in settings.readers]


def probe(paths: Sequence[Path], settings: ProbeSettings) -> list[ReadersRate]:
    """Every count of readers measured ``settings.rounds`` times on draws no other measurement read."""
    order = plan(settings)
    chosen = draws(paths, len(order), settings.files, settings.seed)
    measured: dict[int, list[Bandwidth]] = {readers: [] for readers in settings.readers}
    for readers, draw in zip(order, chosen):
        measured[readers].append(measure_file_reads(draw, readers, sample=len(draw)))
    return [ReadersRate(readers, tuple(rates)) for readers, rates in measured.items()]


READERS = Option("--readers", "threads reading at once, comma-separated", parse=counts,
                 default=",".join(map(str, ProbeSettings.readers)), metavar="N,N,...")
FILES = Option("--files", "files a measurement reads (fewer where the dataset cannot give every measurement its own)",
               parse=count, default=ProbeSettings.files, metavar="N")
REPEATS = Option("--repeats", "measurements of each count, the counts in turn", parse=count,
                 default=ProbeSettings.rounds, metavar="N")
DRAW_SEED = Option("--draw-seed", "the seed of the draw of files", parse=natural, metavar="N",
                   default_text="a new draw every run")
FOLDER = Option("folder", "a dataset folder (class folders of images)", parse=existing_folder, metavar="FOLDER")


def main(argv: list[str] | None = None) -> int:
    parser = command_parser("python -m pipelines.caches.read_probe", __doc__)
    add_options(parser.add_argument, FOLDER, READERS, FILES, REPEATS, DRAW_SEED)
    args = parser.parse_args(argv)
    try:
        index = index_dataset(args.folder)
    except DatasetError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    settings = ProbeSettings(tuple(dict.fromkeys(args.readers)), args.files, args.repeats, args.draw_seed)
    measurements = len(plan(settings))
    each = draw_size(index.images, measurements, settings.files)
    if each < settings.files:
        print(f"{index.images:,} files: each of the {measurements} measurements reads {each:,} "
              "of them" + (" (no file is read twice)" if index.images >= measurements else
                           ", some read again, which storage below this machine may serve from its cache"),
              file=sys.stderr)
    print(f"reads of {index.root}'s files, evicted first, a fresh draw each measurement "
          f"({settings.rounds} round{'s' if settings.rounds > 1 else ''}: median ± half the range):")
    for rate in probe(index.paths, settings):
        print(rate.line())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
