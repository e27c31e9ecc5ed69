"""``python -m pipelines.memory plan ...`` (on paper, no data) and ``... profile ...`` (one case, measured)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from pipelines.caches.modes import CACHE_MODES
from pipelines.datasets.presets import DEFAULT_PRESET, PRESETS
from pipelines.loaders.contract import PLACEMENTS, Contract
from pipelines.datasets import DatasetError
from pipelines.loaders import LOADERS
from pipelines.memory.plan import format_plan, plan
from pipelines.memory.predict import available_ram
from pipelines.units import format_bytes, parse_bytes


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pipelines.memory", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    paper = commands.add_parser("plan", help="predict every cache's bytes for a preset, without generating data")
    paper.add_argument("--preset", default=DEFAULT_PRESET, choices=sorted(PRESETS))
    paper.add_argument("--images", type=int, help="scale the preset")
    _contract_options(paper)

    prof = commands.add_parser("profile", help="record RSS over time for one case (JSON + PNG)")
    prof.add_argument("--loader", default="tfdata", choices=sorted(LOADERS))
    prof.add_argument("--cache", default="memory", choices=CACHE_MODES)
    prof.add_argument("--placement", default="float32", choices=PLACEMENTS)
    prof.add_argument("--dataset", type=Path, help="your own folder (default: the generated --preset)")
    prof.add_argument("--preset", default=DEFAULT_PRESET, choices=sorted(PRESETS))
    prof.add_argument("--images", type=int)
    prof.add_argument("--epochs", type=int, default=2)
    prof.add_argument("--out", type=Path, default=Path("reports/memory"))
    _contract_options(prof)

    args = parser.parse_args(argv)
    try:
        budget = parse_bytes(args.ram_budget) if args.ram_budget else available_ram()
        contract = Contract(image_size=(args.image_size, args.image_size), batch_size=args.batch_size)
        if args.command == "plan":
            shape = PRESETS[args.preset].scaled(args.images)
            jpeg_bytes = shape.images * shape.target_bytes
            print(format_plan(plan(shape.images, jpeg_bytes, contract, budget), shape.images, jpeg_bytes, budget,
                              contract))
        else:
            from pipelines.datasets import prepare_dataset
            from pipelines.memory.profile import profile_case

            index = prepare_dataset(args.dataset, args.preset, args.images)
            record = profile_case(index, args.loader, contract.with_(cache=args.cache, placement=args.placement),
                                  args.epochs, args.out)
            print(f"{record['case']}: peak RSS {format_bytes(record['peak_rss_bytes'])}, growth "
                  f"{format_bytes(record['rss_growth_bytes'])}, predicted cache "
                  f"{format_bytes(record['predicted_cache_bytes'])}; wrote {args.out}/{record['case']}.json and .png")
    except (DatasetError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0


def _contract_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--ram-budget", help="e.g. 16GB (default: RAM available now)")
    parser.add_argument("--image-size", type=int, default=224)
    parser.add_argument("--batch-size", type=int, default=32)


if __name__ == "__main__":
    sys.exit(main())
