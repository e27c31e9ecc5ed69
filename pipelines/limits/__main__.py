"""``python -m pipelines.limits``: the RAM predictor against the kernel, for memory caches of several sizes
around one limit -- each filled in a child under ``--ram-limit``, OOM-killed or not, beside what was predicted.

    python -m pipelines.limits --ram-limit 2GB --preset coco2017 --images 1000,1500,2000,2500,3000

Every size is a generated dataset of the preset's shape (made once and reused, as for the benchmarks); nothing
else runs under the limit, so the child has all of it. Exits 1 if any outcome was not the predicted one.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from pipelines.datasets.presets import PRESETS
from pipelines.limits.cgroup import CgroupUnavailable, Limits
from pipelines.units import format_bytes, parse_bytes, parse_list


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pipelines.limits", description=__doc__.split("\n\n")[0])
    parser.add_argument("--ram-limit", required=True, help="the limit, e.g. 2GB")
    parser.add_argument("--preset", default="coco2017", choices=sorted(PRESETS))
    parser.add_argument("--images", required=True, help="dataset sizes, comma-separated (one cache each)")
    parser.add_argument("--loader", default="tfdata")
    parser.add_argument("--placement", default="float32", choices=("uint8", "float32"))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--data-root", type=Path)
    args = parser.parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    try:
        limit = parse_bytes(args.ram_limit)
        sizes = parse_list(args.images, int, "--images", "1000,2000")
    except ValueError as error:
        parser.error(str(error))

    from pipelines.datasets import prepare_dataset
    from pipelines.limits.probe import contract_fields, probe_cache
    from pipelines.loaders.contract import Contract
    from pipelines.memory.predict import predict_cache, ram_needed

    base = Contract()
    contract = base.with_(cache="memory", placement=args.placement)
    header = f"{'images':>7}  {'cache':>9}  {'needs':>9}  {'+ held':>9}  {'peak':>9}  outcome"
    print(f"{args.loader} memory cache ({args.placement}) filled in a child under --ram-limit {format_bytes(limit)} "
          "(needs: cache x margin + working set; + held: the child's own memory before filling)\n" + header)
    unexpected = 0
    for images in sizes:
        index = prepare_dataset(None, args.preset, images, args.seed, args.data_root)
        prediction = predict_cache(index.images, contract)
        try:
            outcome = probe_cache(args.loader, "memory", args.placement, index.root, contract_fields(base),
                                  prediction.total_bytes, ram_needed(prediction), index.images, Limits(limit))
        except CgroupUnavailable as error:
            print(f"limits: {error}", file=sys.stderr)
            return 2
        unexpected += not outcome.as_predicted
        held = format_bytes(outcome.baseline_bytes) if outcome.baseline_bytes else "-"
        peak = format_bytes(outcome.peak_bytes) if outcome.peak_bytes else "-"
        said = "fits" if outcome.predicted_to_fit else "does not fit"
        print(f"{images:>7,}  {format_bytes(outcome.predicted_bytes):>9}  {format_bytes(outcome.needed_bytes):>9}  "
              f"{held:>9}  {peak:>9}  {'oom-killed' if outcome.killed else 'survived'}, predicted: {said}"
              f"{'' if outcome.as_predicted else '  <- not as predicted'}")
    return 1 if unexpected else 0


if __name__ == "__main__":
    sys.exit(main())
