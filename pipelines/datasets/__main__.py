"""Command line: ``python -m pipelines.datasets {presets,generate,check}`` (also ``loaderbench-datasets``).

Every argument is checked before anything is written (a preset with more classes than ``--images``, an ``--out``
that is a file or cannot be made, the photos preset without scikit-image): a refusal is one line, exit 2, and
leaves no folder behind.
"""

from __future__ import annotations

import sys
from dataclasses import replace

from pipelines.cleanup.new_folders import folders_to_make, remove_empty
from pipelines.datasets.options import IMAGES, PRESET, SEED, WORKERS, DatasetChoice
from pipelines.datasets.presets import PRESETS, default_data_root
from pipelines.options import OUT, Option, add_options, command_parser, refuse, settings_from
from pipelines.values import existing_folder

PROG = "python -m pipelines.datasets"

#: ``check PATH``: the tree to check, as the benchmarks would read it.
CHECK_PATH = Option("path", "the class-per-folder image tree to check: PATH/<class>/<image files>",
                    parse=existing_folder, metavar="PATH", default_text="")


def _parser():
    parser = command_parser(PROG, __doc__)
    commands = parser.add_subparsers(dest="command", required=True, metavar="{presets,generate,check}")
    commands.add_parser("presets", help="list the dataset presets", description="List the dataset presets.")
    make = commands.add_parser("generate", help="write (or reuse, or complete) a generated JPEG dataset",
                               description="Write (or reuse, or complete) a generated JPEG dataset.")
    out = replace(OUT, default_text=f"{default_data_root()}/<preset>-<images>-s<seed>")
    add_options(make.add_argument, PRESET, IMAGES, SEED, out, WORKERS)
    check = commands.add_parser("check", help="check a class-per-folder image tree as the benchmarks would",
                                description="Check a class-per-folder image tree as the benchmarks would.")
    add_options(check.add_argument, CHECK_PATH)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    prog = f"{PROG} {args.command}"
    from pipelines.datasets.validate import DatasetError
    from pipelines.units import format_bytes

    if args.command == "presets":
        for preset in PRESETS.values():
            print(f"{preset.name:14} {preset.images:>8,} images {preset.classes:>3} classes "
                  f"~{format_bytes(preset.target_bytes)}/image  {preset.description}")
        return 0
    if args.command == "check":
        from pipelines.datasets.validate import validate_dataset

        try:
            index = validate_dataset(args.path)
        except DatasetError as error:
            return refuse(prog, error)
        print(f"ok: {index.root}: {index.images:,} images in {len(index.class_names)} classes, "
              f"{format_bytes(index.bytes)}")
        return 0
    return _generate(prog, args)


def _generate(prog: str, args) -> int:
    """``generate``: the options checked together, the photographs found, the folder made, then the images."""
    from pipelines.datasets.generate import dataset_folder_name, generate
    from pipelines.datasets.validate import DatasetError
    from pipelines.units import format_bytes

    try:
        choice = settings_from(DatasetChoice, args)
    except ValueError as error:
        return refuse(prog, error)
    shape = PRESETS[choice.preset].scaled(choice.images)
    folder = args.out or default_data_root() / dataset_folder_name(shape, choice.seed)
    made_here = folders_to_make(folder)
    try:
        made = generate(shape, folder, seed=choice.seed, workers=args.workers)
    except (DatasetError, ValueError, OSError) as error:
        if isinstance(error, OSError) and not folder.is_dir():  # as root, /proc/x looks writable until made
            named = "argument --out: " if args.out else "the default data root ($LOADERBENCH_DATA): "
            error = f"{named}cannot make {folder}: {error.strerror or error}"
        remove_empty(made_here)
        return refuse(prog, error)
    m = made.manifest
    verb = "reused" if made.reused else f"wrote {made.written:,} images to"
    print(f"{verb} {made.path}: {m.images:,} images in {len(m.class_names)} classes, "
          f"{format_bytes(m.bytes)} ({format_bytes(m.bytes / m.images)}/image, JPEG quality {m.jpeg_quality})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
