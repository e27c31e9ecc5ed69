"""``python -m pipelines.datasets.shards SRC [OUT] [--shards N]`` (also ``loaderbench-tfrecord``): convert a
dataset folder to TFRecord shards ahead of a run, where the ``tfrecord`` loader finds them (or into ``OUT``), and
say what was written, reused or repaired. Resumable: run it again after an interruption.

Every argument is checked before anything is written (a missing or empty source, an ``OUT`` that is a file or
inside the dataset, more shards than images): a refusal is one line, exit 2, and leaves no folder behind."""

from __future__ import annotations

import sys

from pipelines.cleanup.new_folders import folders_to_make, remove_empty
from pipelines.datasets.presets import default_data_root
from pipelines.datasets.shards.format import MAX_SHARDS, MIN_SHARDS, SHARD_TARGET_BYTES
from pipelines.options import Option, add_options, command_parser, refuse
from pipelines.values import count, existing_folder, writable_folder
from pipelines.units import format_bytes

PROG = "python -m pipelines.datasets.shards"

SOURCE = Option("source", "the dataset to convert: SOURCE/<class>/<image files>", parse=existing_folder,
                metavar="SOURCE", default_text="")
SHARDS_OUT = Option("out", "folder to write the shards to", parse=writable_folder, metavar="OUT", nargs="?",
                    default_text=f"{default_data_root()}/_tfrecord/<name>-<digest>, where the tfrecord loader looks")
SHARDS = Option("--shards", "shard count", parse=count, metavar="N",
                default_text=f"about {format_bytes(SHARD_TARGET_BYTES)} each, at least {MIN_SHARDS}, at most one an "
                             "image")
NO_PROGRESS = Option("--no-progress", "no progress bar", parse=None, default=False)


def _parser():
    parser = command_parser(PROG, "Convert a class-per-folder image tree to sharded TFRecord files (resumable: run "
                                  "it again after an interruption).")
    add_options(parser.add_argument, SOURCE, SHARDS_OUT, SHARDS, NO_PROGRESS)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    from pipelines.datasets.shards.format import tfrecord_folder
    from pipelines.datasets.validate import DatasetError, index_dataset

    try:
        index = index_dataset(args.source)
        if not index.images:
            raise DatasetError(f"no images to convert in {index.root}")
        most = min(index.images, MAX_SHARDS)
        if args.shards is not None and args.shards > most:
            return refuse(PROG, f"argument --shards: at most {most:,} (one an image in {index.root}), got "
                                f"{args.shards}")
        folder = args.out if args.out is not None else tfrecord_folder(index)
        source = index.root.expanduser().resolve()
        if folder.resolve() == source or source in folder.resolve().parents:
            return refuse(PROG, f"argument OUT: {folder} is inside the dataset {index.root}: choose a folder outside "
                                "it (the suite never writes into a dataset folder)")
    except DatasetError as error:
        return refuse(PROG, error)
    made_here = folders_to_make(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as error:  # as root, /proc/x looks writable until made
        return refuse(PROG, f"argument OUT: cannot make {folder}: {error.strerror or error}")
    from pipelines.quiet_start import import_tensorflow

    import_tensorflow()  # the shards are written with TensorFlow: its start-up lines left out
    from pipelines.datasets.shards.reuse import rewritten_line
    from pipelines.datasets.shards.writer import convert

    try:
        made = convert(index, folder, shards=args.shards, progress=not args.no_progress)
    except (DatasetError, ValueError, OSError) as error:
        remove_empty(made_here)
        return refuse(PROG, error)
    if made.rewritten:
        print(rewritten_line(made))
    verb = f"wrote {made.written} of {len(made.shards)} shards" if made.written else \
        f"reused all {len(made.shards)} shards"
    print(f"{verb}: {made.images:,} images in {len(made.class_names)} classes, {format_bytes(made.bytes)} of "
          f"TFRecords for {format_bytes(index.bytes)} of image files, in {made.folder}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
