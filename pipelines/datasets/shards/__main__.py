"""``python -m pipelines.datasets.shards SRC [OUT] [--shards N]`` (also ``loaderbench-tfrecord``): convert a
dataset folder to TFRecord shards ahead of a run, where the ``tfrecord`` loader finds them (or into ``OUT``), and
say what was written, reused or repaired. Resumable: run it again after an interruption."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from pipelines.datasets.presets import default_data_root
from pipelines.datasets.shards.format import MIN_SHARDS, SHARD_TARGET_BYTES, tfrecord_folder
from pipelines.datasets.shards.reuse import rewritten_line
from pipelines.datasets.shards.writer import convert
from pipelines.datasets.validate import DatasetError, index_dataset
from pipelines.units import format_bytes


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m pipelines.datasets.shards",
        description="Convert a class-per-folder image tree to sharded TFRecord files (resumable: run it again "
                    "after an interruption).")
    parser.add_argument("source", type=Path, help="the dataset: <source>/<class>/<image files>")
    parser.add_argument("out", type=Path, nargs="?",
                        help=f"folder to write (default: {default_data_root()}/_tfrecord/<name>-<digest>, where "
                             "the tfrecord loader looks)")
    parser.add_argument("--shards", type=int,
                        help=f"shard count (default: about {format_bytes(SHARD_TARGET_BYTES)} each, at least "
                             f"{MIN_SHARDS}, at most one per image)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        index = index_dataset(args.source)
        folder = args.out if args.out is not None else tfrecord_folder(index)
        made = convert(index, folder, shards=args.shards, progress=not args.no_progress)
    except (DatasetError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    if made.rewritten:
        print(rewritten_line(made))
    verb = f"wrote {made.written} of {len(made.shards)} shards" if made.written else \
        f"reused all {len(made.shards)} shards"
    print(f"{verb}: {made.images:,} images in {len(made.class_names)} classes, {format_bytes(made.bytes)} of "
          f"TFRecords for {format_bytes(index.bytes)} of image files, in {made.folder}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
