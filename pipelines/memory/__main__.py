"""``python -m pipelines.memory plan ...`` (on paper, no data) and ``... profile ...`` (one case, measured)."""

from __future__ import annotations

import sys
from pathlib import Path

from pipelines.caches.modes import CACHE
from pipelines.datasets.options import DATASET, IMAGES, PRESET, DatasetChoice
from pipelines.loaders.contract import BATCH_SIZE, IMAGE_SIZE, PLACEMENT, Contract
from pipelines.loaders.registry import LOADER
from pipelines.memory.predict import RAM_BUDGET
from pipelines.options import OUT, Option, add_options, command_parser, refuse
from pipelines.values import count

PROG = "python -m pipelines.memory"
EPOCHS = Option("--epochs", "epochs to run while memory is sampled", parse=count, default=2, metavar="N")


def main(argv: list[str] | None = None) -> int:
    parser = command_parser(PROG, __doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    paper = commands.add_parser("plan", help="predict every cache's bytes for a preset, without generating data")
    add_options(paper.add_argument, PRESET, IMAGES, RAM_BUDGET, IMAGE_SIZE, BATCH_SIZE)
    prof = commands.add_parser("profile", help="record RSS over time for one case (JSON + PNG)")
    add_options(prof.add_argument, LOADER, CACHE, PLACEMENT, DATASET, PRESET, IMAGES, EPOCHS, OUT, IMAGE_SIZE,
                BATCH_SIZE, defaults={"out": Path("reports/memory")})
    args = parser.parse_args(argv)
    try:
        contract = Contract(image_size=args.image_size, batch_size=args.batch_size)
        choice = DatasetChoice(getattr(args, "dataset", None), args.preset, args.images)
    except ValueError as error:
        return refuse(PROG, error)
    if args.command == "plan":
        from pipelines.datasets.presets import PRESETS
        from pipelines.memory.plan import format_plan, plan
        from pipelines.memory.predict import available_ram

        budget = args.ram_budget or available_ram()
        shape = PRESETS[choice.preset].scaled(choice.images)
        jpeg_bytes = shape.images * shape.target_bytes
        print(format_plan(plan(shape.images, jpeg_bytes, contract, budget), shape.images, jpeg_bytes, budget,
                          contract))
        return 0
    from pipelines.quiet_start import import_tensorflow

    import_tensorflow()  # after the arguments are checked: --help and a refusal return at once
    from pipelines.datasets import DatasetError, prepare_dataset
    from pipelines.memory.profile import profile_case
    from pipelines.units import format_bytes

    try:
        index = prepare_dataset(choice.dataset, choice.preset, choice.images)
        record = profile_case(index, args.loader, contract.with_(cache=args.cache, placement=args.placement),
                              args.epochs, args.out)
    except (DatasetError, ValueError) as error:
        return refuse(PROG, error)
    print(f"{record['case']}: peak RSS {format_bytes(record['peak_rss_bytes'])}, growth "
          f"{format_bytes(record['rss_growth_bytes'])}, predicted cache "
          f"{format_bytes(record['predicted_cache_bytes'])}; wrote {args.out}/{record['case']}.json and .png")
    return 0


if __name__ == "__main__":
    sys.exit(main())
