"""``python -m pipelines.study.miniature``: the study's machine, in miniature -- its table reproduced in shape on
this one, at a size that runs in minutes.

The study trained on a 16 GB workstation with a GPU, from 18 GB of JPEGs: the JPEGs did not stay in the page
cache, the float32 memory cache did not fit and crashed, the file cache's first epoch (writing the cache) was
slower than no cache and its later ones faster. Here the same shape (``coco2017``) is measured at ``--images``
images in a cgroup whose RAM limit is smaller than the JPEGs plus the run's own memory (so they are read from
storage every epoch, as there) and than the float32 cache (so it is OOM-killed, as there, in a child under the
limit: ``--run-exceeding``), with reads throttled to a disk's rate and an emulated accelerator in place of the
GPU (:mod:`pipelines.limits`, :class:`~pipelines.training.EmulatedAccelerator`). It is one measuring study
(:mod:`pipelines.study`, ``--held-out N --full-images N``), so its files are the study's; the command prints the
epochs measured at ``N`` next to the study's minutes.

    python -m pipelines.study.miniature [--images 12000] [--ram-limit 2.5GB] [--read-bandwidth 600MB/s] \\
        [--accelerator 2000] [--out reports/miniature]
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, replace

#: The study's epochs, minutes (ImageDataGenerator; tf.data without a cache; with a memory cache; with a file
#: cache, first and later), on its 16 GB machine with COCO 2017's 117,266 images.
STUDY_MINUTES = {"idg-none-float32": (58.0, 58.0), "tfdata-none-uint8": (23.0, 23.0),
                 "tfdata-memory-float32": (None, None), "tfdata-file-float32": (42.0, 14.0)}


@dataclass(frozen=True)
class MiniatureSettings:
    """The miniature machine.

    Attributes:
        images: the dataset's size (coco2017's shape).
        ram_limit: its RAM, page cache included: under the JPEGs plus the run's own memory, and the float32 cache.
        read_bandwidth: its storage's read rate (bytes a second).
        accelerator: its accelerator's images/s (emulated: a step sleeps batch / rate).
        sizes: the small sizes the study's laws are fitted on (the prediction at ``images`` is checked).
    """

    images: int = 12_000
    ram_limit: int = 2_500_000_000
    read_bandwidth: int = 600_000_000
    accelerator: float = 2000.0
    sizes: tuple[int, ...] = (250, 500)


def study_settings(mini: MiniatureSettings):
    """The one measuring study the miniature is."""
    from pipelines.limits.session import LimitSettings
    from pipelines.study.settings import STUDY_CASES, StudySettings

    # At N images, the rows of the study it reproduces (Grain's row was not in it): its ~15 minutes stay so.
    theirs = tuple(case.id for case in STUDY_CASES if case.loader != "grain")
    return StudySettings(preset="coco2017", sizes=mini.sizes, held_out=mini.images, held_out_rounds=1,
                         held_out_rows=theirs, full_images=mini.images, ram_budget=mini.ram_limit,
                         accelerator=mini.accelerator, levels=False,
                         limits=LimitSettings(mini.ram_limit, mini.read_bandwidth, True))


def comparison(result, mini: MiniatureSettings) -> list[str]:
    """The measured epochs at ``mini.images`` (training epochs on the emulated accelerator) beside the study's."""
    from pipelines.study.table import format_seconds, row_label
    from pipelines.study.scaling import STUDY_CASES

    points = {(p.case, p.epoch): p.median_s for p in result.measured.points
              if p.images == mini.images and p.cores is None and p.model is not None}
    unmeasured = {u.case: u for u in result.measured.unmeasured if u.images == mini.images}
    cases = {c.id: c for c in STUDY_CASES}
    base = points.get(("idg-none-float32", "cold"))
    idg_min = STUDY_MINUTES["idg-none-float32"][0]
    lines = [f"{'row':<34} {'here: epoch 1 / later':<34} {'vs idg':<13} {'the study: epoch 1 / later':<27} vs idg"]
    for case_id, (first_min, later_min) in STUDY_MINUTES.items():
        first, later = points.get((case_id, "cold")), points.get((case_id, "warm"))
        if case_id in unmeasured:
            outcome = unmeasured[case_id].outcome
            here = ("oom-killed" if outcome and outcome["killed"] else "survived" if outcome else "not measured")
            ratio = "-"
        else:
            here = f"{format_seconds(first)} / {format_seconds(later)}"
            ratio = " / ".join(f"{base / s:.1f}x" if base and s else "-" for s in (first, later))
        study = f"{first_min:.0f} min / {later_min:.0f} min" if first_min else "crashed (out of RAM)"
        theirs = f"{idg_min / first_min:.1f}x / {idg_min / later_min:.1f}x" if first_min else "-"
        lines.append(f"{row_label(cases[case_id]):<34} {here:<34} {ratio:<13} {study:<27} {theirs}")
    return lines + [shape_line(points, unmeasured)]


def shape_line(points: dict, unmeasured: dict) -> str:
    """Which of the study's three findings the miniature reproduced."""
    none_s = points.get(("tfdata-none-uint8", "cold"))
    file_first, file_later = points.get(("tfdata-file-float32", "cold")), points.get(("tfdata-file-float32", "warm"))
    memory = unmeasured.get("tfdata-memory-float32")
    findings = {
        "the float32 memory cache OOM-killed": bool(memory and memory.outcome and memory.outcome["killed"]),
        "the file cache's first epoch slower than no cache": bool(none_s and file_first and file_first > none_s),
        "its later epochs faster than no cache": bool(none_s and file_later and file_later < none_s),
    }
    said = "; ".join(f"{what}: {'yes' if held else 'no'}" for what, held in findings.items())
    return f"the study's shape, {sum(findings.values())} of {len(findings)} findings reproduced: {said}"


def main(argv: list[str] | None = None) -> int:
    from pipelines.datasets.options import IMAGES
    from pipelines.harness.settings import ACCELERATOR
    from pipelines.limits.session import RAM_LIMIT, READ_BANDWIDTH
    from pipelines.options import OUT, add_options, command_parser
    from pipelines.units import format_bytes

    defaults = MiniatureSettings()
    parser = command_parser("python -m pipelines.study.miniature", __doc__)
    add_options(parser.add_argument, replace(IMAGES, help="the dataset's size (coco2017's shape, scaled)"),
                replace(RAM_LIMIT, help="the miniature machine's RAM, page cache included: under the JPEGs plus the "
                        "run's own memory, and under the float32 cache"),
                replace(READ_BANDWIDTH, help="its storage's read rate"),
                replace(ACCELERATOR, help="its accelerator's speed (emulated: a step sleeps batch / rate seconds)"),
                OUT,
                defaults={"images": defaults.images, "ram_limit": format_bytes(defaults.ram_limit).replace(" ", ""),
                          "read_bandwidth": format_bytes(defaults.read_bandwidth).replace(" ", "") + "/s",
                          "accelerator": defaults.accelerator, "out": "reports/miniature"})
    args = parser.parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

    from pipelines.limits.cgroup import CgroupUnavailable
    from pipelines.study.output import write_study
    from pipelines.study.run import report_text, run_study

    try:
        mini = MiniatureSettings(args.images, args.ram_limit, args.read_bandwidth, args.accelerator)
        result = run_study(study_settings(mini))
    except (ValueError, CgroupUnavailable) as error:
        print(f"miniature: {error}", file=sys.stderr)
        return 2
    write_study(args.out, result)
    print(report_text(result))
    print(f"\nThe study's machine, in miniature: coco2017's shape at {mini.images:,} images, "
          f"{result.settings.limits.line()}, emulated accelerator {mini.accelerator:g} img/s (training epochs)")
    print("\n".join(comparison(result, mini)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
