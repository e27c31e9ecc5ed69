"""``python -m pipelines.dataservice``: the tf.data service as a cluster of emulated hosts -- how many workers an
accelerator needs (``scale``), and what a host's death costs an epoch (``faults``).

    python -m pipelines.dataservice scale --hosts 1,2,4 --worker-cpus 0.25 --accelerator 2000 --out DIR
    python -m pipelines.dataservice faults --out DIR

Each host is a network namespace with its own address, joined to this machine by a veth link, each worker
within a CPU quota (docs/extended.md says what the emulation leaves out). Needs root; everything made is
removed afterwards, also after ``kill -9`` (a watcher, and a sweep at the next start). ``scale`` writes
``DIR/scale.json``; ``faults`` writes ``DIR/faults.json`` and exits 1 when a scenario is not as documented.
"""

from __future__ import annotations

import json
import sys
from dataclasses import replace
from pathlib import Path

from pipelines.datasets.options import DatasetChoice
from pipelines.harness.plan import MIN_ROUND_S, ROUNDS, RoundPlan
from pipelines.harness.settings import ACCELERATOR
from pipelines.options import OUT, Option, add_options, command_parser, refuse
from pipelines.dataservice.worker import WORKER_TIMEOUT
from pipelines.values import bit_rate, counts, delay, names, positive

PROG = "python -m pipelines.dataservice"
HOSTS = Option("--hosts", "worker counts to time, comma-separated", parse=counts, default=(1, 2, 4),
               metavar="N,N,...", default_text="1,2,4")
WORKER_CPUS = Option("--worker-cpus", "each worker host's CPU quota, in cores (0.25: a quarter of one core's time)",
                     parse=positive, default=0.5, metavar="CORES")
LINK_RATE = Option("--link-rate", "limit each host's link to this rate (tc tbf), e.g. 1gbit", parse=bit_rate,
                   metavar="RATE", default_text="the veth's own speed")
LINK_DELAY = Option("--link-delay", "add this one-way delay to each host's link (tc netem, where the kernel has it), "
                    "e.g. 2ms", parse=delay, metavar="TIME", default_text="none")
NEEDED_FOR = replace(ACCELERATOR, help="also say how many workers feed an accelerator of this many images/s",
                     default_text="not asked")
WAIT = Option("--wait", "seconds an epoch may go without a batch before it is reported as hung", parse=positive,
              default=60.0, metavar="SECONDS")
ONLY = Option("--only", "run only these scenarios", parse=names, metavar="NAME,...", default_text="all")
#: The dispatcher's wait for a silent worker in the fault scenarios: short, so that an epoch that can go on
#: without a dead worker does so well within --wait.
FAULT_WORKER_TIMEOUT_S = 5.0
#: Images of the faults command's generated dataset: an epoch of a few seconds, so a fault lands inside it.
FAULT_IMAGES = 1000


def _parser():
    parser = command_parser(PROG, __doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    scale = commands.add_parser("scale", help="images/s at each worker count, and the workers an accelerator needs")
    add_options(scale.add_argument, HOSTS, WORKER_CPUS, LINK_RATE, LINK_DELAY, NEEDED_FOR, ROUNDS, MIN_ROUND_S,
                OUT, DatasetChoice, defaults={"out": Path("dataservice-scale")})
    faults = commands.add_parser("faults", help="one epoch per fault scenario, elements counted by their index")
    add_options(faults.add_argument, WORKER_CPUS, WORKER_TIMEOUT, WAIT, ONLY, OUT, DatasetChoice,
                defaults={"out": Path("dataservice-faults"), "worker_cpus": 0.25, "images": FAULT_IMAGES,
                          "worker_timeout": FAULT_WORKER_TIMEOUT_S})
    return parser


def _check(args) -> DatasetChoice:
    """Every refusal before any work: settings that mean nothing, then whether hosts can be emulated here."""
    from pipelines.dataservice.faults import SCENARIO_NAMES
    from pipelines.dataservice.hosts import emulation_unavailable, link_delay_unavailable

    images = None if args.dataset is not None and args.images == FAULT_IMAGES else args.images
    choice = DatasetChoice(args.dataset, args.preset, images, args.seed, args.data_root)
    unknown = [name for name in getattr(args, "only", None) or () if name not in SCENARIO_NAMES]
    if unknown:
        raise ValueError(f"--only: no scenario {', '.join(unknown)}; choose from {', '.join(SCENARIO_NAMES)}")
    if getattr(args, "link_delay", None) and link_delay_unavailable():
        raise ValueError(f"--link-delay: {link_delay_unavailable()}")
    reason = emulation_unavailable()
    if reason:
        raise ValueError(reason)
    from pipelines.limits.cgroup import CgroupUnavailable, Limits
    from pipelines.limits.make import check_cgroup

    try:
        check_cgroup(Limits(cpus=args.worker_cpus))  # a worker host's quota, made and removed
    except CgroupUnavailable as error:
        raise ValueError(f"--worker-cpus: {error}") from None
    return choice


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        choice = _check(args)
    except ValueError as error:
        return refuse(f"{PROG} {args.command}", error)
    from pipelines.quiet_start import import_tensorflow

    import_tensorflow()
    from pipelines.datasets import prepare_dataset

    index = prepare_dataset(choice.dataset, choice.preset, choice.images, choice.seed, choice.data_root)
    args.out.mkdir(parents=True, exist_ok=True)
    return _scale(args, index) if args.command == "scale" else _faults(args, index)


def _settings(args, index) -> dict:
    from pipelines.machine import machine_info

    return {"dataset": str(index.root), "images": index.images, "worker_cpus": args.worker_cpus,
            **{k: v for k, v in vars(args).items() if k in ("hosts", "link_rate", "link_delay", "accelerator",
                                                            "rounds", "worker_timeout", "wait")},
            "machine": machine_info()}


def _scale(args, index) -> int:
    from pipelines.dataservice.curve import workers_needed
    from pipelines.dataservice.scale import measure_curve, table

    print(f"{PROG} scale: {index.images:,} images ({index.root}), workers of {args.worker_cpus:g} CPU, "
          f"{args.rounds} rounds a count", file=sys.stderr)
    curve = measure_curve(index, args.hosts, args.worker_cpus, args.link_rate, args.link_delay,
                          RoundPlan(args.rounds, args.min_round_s), progress=lambda line: print(line, file=sys.stderr))
    curve.settings = _settings(args, index)
    if args.accelerator:
        curve.accelerator = args.accelerator
        curve.needed = workers_needed(curve.points, args.accelerator)
    (args.out / "scale.json").write_text(json.dumps(curve.record(), indent=2) + "\n")
    print(table(curve))
    print(f"written: {args.out / 'scale.json'}")
    return 0


def _faults(args, index) -> int:
    from pipelines.dataservice.faults import HEADER, SCENARIOS as ALL, record, run_scenario

    chosen = [s for s in ALL if not args.only or s.name in args.only]
    print(f"{PROG} faults: {index.images:,} images ({index.root}), 2 workers of {args.worker_cpus:g} CPU, "
          f"dispatcher drops a silent worker after {args.worker_timeout:g} s, hung after {args.wait:g} s "
          "without a batch", file=sys.stderr)
    print(HEADER)
    outcomes = []
    for scenario in chosen:
        outcome = run_scenario(scenario, index.root, index.images, args.worker_cpus, args.worker_timeout, args.wait)
        print(outcome.line(), flush=True)
        outcomes.append(outcome)
    (args.out / "faults.json").write_text(json.dumps(record(outcomes, _settings(args, index)), indent=2) + "\n")
    print(f"written: {args.out / 'faults.json'}")
    return 0 if all(o.as_documented for o in outcomes) else 1


if __name__ == "__main__":
    sys.exit(main())

