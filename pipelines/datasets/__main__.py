"""Command line: ``python -m pipelines.datasets {presets,generate,check}`` (also ``loaderbench-datasets``)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from pipelines.datasets.presets import DEFAULT_PRESET, PRESETS, default_data_root
from pipelines.datasets.generate import dataset_folder_name, generate
from pipelines.datasets.validate import DatasetError, validate_dataset
from pipelines.units import format_bytes


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pipelines.datasets", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("presets", help="list the dataset presets")

    make = commands.add_parser("generate", help="write (or reuse, or complete) a generated JPEG dataset")
    make.add_argument("--preset", default=DEFAULT_PRESET, choices=sorted(PRESETS))
    make.add_argument("--images", type=int, help="scale the preset to this many images (same classes and sizes)")
    make.add_argument("--seed", type=int, default=0)
    make.add_argument("--out", type=Path, help=f"folder to write (default: {default_data_root()}/<preset>-<images>-s<seed>)")
    make.add_argument("--workers", type=int, help="processes (default: one per core)")

    check = commands.add_parser("check", help="check a class-per-folder image tree as the benchmarks would")
    check.add_argument("path", type=Path)

    args = parser.parse_args(argv)
    try:
        if args.command == "presets":
            for preset in PRESETS.values():
                print(f"{preset.name:14} {preset.images:>8,} images {preset.classes:>3} classes "
                      f"~{format_bytes(preset.target_bytes)}/image  {preset.description}")
        elif args.command == "generate":
            shape = PRESETS[args.preset].scaled(args.images)
            folder = args.out or default_data_root() / dataset_folder_name(shape, args.seed)
            made = generate(shape, folder, seed=args.seed, workers=args.workers)
            m = made.manifest
            verb = "reused" if made.reused else f"wrote {made.written:,} images to"
            print(f"{verb} {made.path}: {m.images:,} images in {len(m.class_names)} classes, "
                  f"{format_bytes(m.bytes)} ({format_bytes(m.bytes / m.images)}/image, JPEG quality {m.jpeg_quality})")
        else:
            index = validate_dataset(args.path)
            print(f"ok: {index.root}: {index.images:,} images in {len(index.class_names)} classes, "
                  f"{format_bytes(index.bytes)}")
    except (DatasetError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
