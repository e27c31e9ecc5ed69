"""``python -m pipelines.limits``: the RAM predictor against the kernel, for memory caches of several sizes
around one limit -- each filled in a child under ``--ram-limit``, OOM-killed or not, beside what was predicted.

    python -m pipelines.limits --ram-limit 2GB --preset coco2017 --sizes 1000,1500,2000,2500,3000

Every size is a generated dataset of the preset's shape (made once and reused, as for the benchmarks); nothing
else runs under the limit, so the child has all of it. Exits 1 if any outcome was not the predicted one.
"""

from __future__ import annotations

import sys
from dataclasses import replace

from pipelines.datasets.options import DATA_ROOT, PRESET, SEED, SIZES
from pipelines.limits.session import RAM_LIMIT
from pipelines.loaders.contract import PLACEMENT
from pipelines.loaders.registry import LOADER
from pipelines.options import add_options, command_parser, refuse

PROG = "python -m pipelines.limits"


def main(argv: list[str] | None = None) -> int:
    parser = command_parser(PROG, __doc__)
    add_options(parser.add_argument, replace(RAM_LIMIT, required=True), PRESET, SIZES, LOADER, PLACEMENT, SEED,
                DATA_ROOT, defaults={"preset": "coco2017", "sizes": (1000, 2000, 3000)})
    args = parser.parse_args(argv)
    from pipelines.datasets.presets import PRESETS
    from pipelines.limits.cgroup import CgroupUnavailable, Limits
    from pipelines.limits.make import check_cgroup
    from pipelines.loaders.registry import LOADER_SPECS

    classes = PRESETS[args.preset].classes
    try:
        if min(args.sizes) < classes:
            raise ValueError(f"--sizes: each at least --preset {args.preset}'s {classes} classes, got "
                             f"{','.join(map(str, args.sizes))}")
        if "memory" not in LOADER_SPECS[args.loader].caches:
            raise ValueError(f"--loader {args.loader} has no memory cache: choose one of "
                             f"{', '.join(n for n, spec in LOADER_SPECS.items() if 'memory' in spec.caches)}")
        check_cgroup(Limits(args.ram_limit))  # before any dataset is made: a cgroup is what this command needs
    except (ValueError, CgroupUnavailable) as error:
        return refuse(PROG, error)
    from pipelines.quiet_start import import_tensorflow

    import_tensorflow()
    from pipelines.datasets import prepare_dataset
    from pipelines.limits.probe import contract_fields, probe_cache
    from pipelines.loaders.contract import Contract
    from pipelines.memory.predict import predict_cache, ram_needed
    from pipelines.units import format_bytes

    limit = args.ram_limit
    base = Contract()
    contract = base.with_(cache="memory", placement=args.placement)
    header = f"{'images':>7}  {'cache':>9}  {'needs':>9}  {'+ held':>9}  {'peak':>9}  outcome"
    print(f"{args.loader} memory cache ({args.placement}) filled in a child under --ram-limit {format_bytes(limit)} "
          "(needs: cache x margin + working set; + held: the child's own memory before filling)\n" + header)
    unexpected = 0
    for images in args.sizes:
        index = prepare_dataset(None, args.preset, images, args.seed, args.data_root)
        prediction = predict_cache(index.images, contract)
        try:
            outcome = probe_cache(args.loader, "memory", args.placement, index.root, contract_fields(base),
                                  prediction.total_bytes, ram_needed(prediction), index.images, Limits(limit))
        except CgroupUnavailable as error:
            return refuse(PROG, error)
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
