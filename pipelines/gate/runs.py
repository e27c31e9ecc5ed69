"""A run as the gate reads it: each case's rounds (seconds per epoch) and its paired reference's, from the
``extra_info`` records a pytest-benchmark JSON file holds, and where the run ran.

Kept apart from the judging (:mod:`pipelines.gate.judge`) so that every reader of runs -- the gate under pytest,
its command, the A/B command, the campaign (:mod:`pipelines.gate.campaign`) -- loads them the same way and gets
the same one-line errors for a missing baseline or a file that is not a run.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from pipelines.harness.complete import incomplete_reason, is_complete, saved_incomplete

#: What makes two runs comparable: ``extra_info`` keys written by :func:`pipelines.machine.machine_info`.
IDENTITY_KEYS: tuple[str, ...] = ("cpu_model", "cpu_count", "tensorflow", "python")

#: How a user saves a baseline (printed when there is none).
SAVE_BASELINE = "tox -e bench-baseline"

#: What a case measured besides its name, by group, as ``(group, extra_info key, field)``: the dataset it read
#: (:func:`pipelines.harness.records.dataset_info`) and the model it trained (training cases). The contract its
#: pipeline delivered is a group of its own, read from the record's ``contract`` mapping
#: (:func:`pipelines.harness.records.contract_info`). Two runs whose cases differ in any of these timed other
#: work: the gate refuses to judge them (:func:`workload_mismatch`).
WORKLOAD_KEYS: tuple[tuple[str, str, str], ...] = (
    ("dataset", "dataset", "name"), ("dataset", "dataset_images", "images"), ("dataset", "dataset_bytes", "bytes"),
    ("dataset", "dataset_classes", "classes"), ("model", "model", "model"),
)

#: A case's workload: group -> field -> value (``{"dataset": {"name": "smoke-300-s0", "images": 300, ...}}``).
Workload = Mapping[str, Mapping[str, object]]


class GateError(Exception):
    """A comparison that cannot be made: no baseline, a file that is not a run, runs from different machines."""


@dataclass(frozen=True)
class CaseRounds:
    """One case's rounds: seconds per epoch, and the paired reference's seconds after each.

    ``runs``: how many of the rounds each run contributed, in order, when several runs are pooled (the A/B
    command's sides); empty for one run. Each run's rounds are normalised by that run's own reference.
    ``shared_cores``: cores' worth of CPU others took while the rounds ran (the most of any pooled run);
    ``None``: not recorded. ``cores``: the cores the run had. ``workload``: what the rounds measured besides the
    case's name (:func:`workload_of`); empty when not recorded.
    """

    case: str
    seconds: tuple[float, ...]
    paired: tuple[float, ...] = ()
    runs: tuple[int, ...] = ()
    shared_cores: float | None = None
    cores: int | None = None
    workload: Workload = field(default_factory=dict, compare=False)

    @property
    def normalisable(self) -> bool:
        return len(self.paired) == len(self.seconds) > 0 and all(p > 0 for p in self.paired)

    def samples(self, normalise: bool) -> np.ndarray:
        """The rounds' seconds; normalised, each divided by the median of its run's paired reference rounds.

        The median, not each round's own partner: the drift to cancel is the machine's between runs (over
        minutes), while the probe's round-to-round noise would only be added to every round: per-round division
        caught fewer seeded regressions and flagged more unchanged cases.
        """
        values = np.asarray(self.seconds, dtype=float)
        if not normalise:
            return values
        edges = np.cumsum((0, *(self.runs or (len(values),))))
        divisors = np.concatenate([np.full(end - start, np.median(self.paired[start:end]))
                                   for start, end in zip(edges[:-1], edges[1:])])
        return values / divisors

    def pooled(self, other: CaseRounds) -> CaseRounds:
        """This case's rounds with another run's (the A/B command pools its runs per side); :class:`GateError`
        when the two runs measured it on different work (another dataset or contract)."""
        differences, unrecorded = workload_differences(self.workload, other.workload, sides=("one run", "another"))
        if differences or unrecorded:
            raise GateError(f"the runs pooled for {self.case} differ in " + "; in ".join(differences + unrecorded)
                            + ": pool only runs made with the same options")
        both = self.normalisable and other.normalisable
        runs = (self.runs or (len(self.seconds),)) + (other.runs or (len(other.seconds),))
        shared = None if None in (self.shared_cores, other.shared_cores) else max(self.shared_cores,
                                                                                  other.shared_cores)
        return CaseRounds(self.case, self.seconds + other.seconds, self.paired + other.paired if both else (), runs,
                          shared, self.cores or other.cores, self.workload)

    @property
    def free_cores(self) -> float | None:
        if self.shared_cores is None or self.cores is None:
            return None
        return max(0.0, self.cores - self.shared_cores)


@dataclass(frozen=True)
class RunRounds:
    """What a run measured, per case, and where it ran. ``incomplete``: the cases left out because an epoch lost
    images (:mod:`pipelines.harness.complete`), each with what it saw (``an epoch saw 8 of 12 images``)."""

    source: str
    identity: Mapping[str, str]
    cases: Mapping[str, CaseRounds]
    incomplete: Mapping[str, str] = field(default_factory=dict)


def case_key(record: Mapping[str, Any]) -> str:
    """``tfdata-none-uint8-warm`` for a case; the reference's name (``decode-limit``) for a reference."""
    case = record.get("case") or record.get("loader", "?")
    return case if case == record.get("loader") else f"{case}-{record.get('epoch')}"


def identity_of(record: Mapping[str, Any]) -> dict[str, str]:
    """The comparable-machine fields of a record (Python as major.minor: patch releases do not matter)."""
    found = {key: str(record[key]) for key in IDENTITY_KEYS if key in record}
    if "python" in found:
        found["python"] = ".".join(found["python"].split(".")[:2])
    return found


def rounds_from_records(records: Iterable[Mapping[str, Any]], source: str) -> RunRounds:
    """A run from ``extra_info`` records (this session's, or a JSON file's); records without rounds are left out,
    and incomplete ones (an epoch lost images) are listed apart, never judged."""
    cases: dict[str, CaseRounds] = {}
    identity: dict[str, str] = {}
    incomplete: dict[str, str] = {}
    for record in records:
        if not is_complete(record):
            incomplete[case_key(record)] = incomplete_reason(record)
            identity = identity or identity_of(record)  # where it ran, as a measured case would say
            continue
        seconds = record.get("round_seconds")
        if not seconds:
            continue
        key = case_key(record)
        shared = (record["other_cores"] + record.get("steal_cores", 0.0)) if "other_cores" in record else None
        cases[key] = CaseRounds(key, tuple(seconds), tuple(record.get("paired_seconds") or ()),
                                shared_cores=shared, cores=record.get("available_cores"), workload=workload_of(record))
        identity = identity or identity_of(record)
    return RunRounds(source, identity, cases, incomplete)


def read_benchmarks(path: Path) -> list[dict[str, Any]]:
    """The ``benchmarks`` entries of a pytest-benchmark JSON file (``--benchmark-json`` or a saved run), each
    with its ``extra_info``; :class:`GateError` when there is no such file or it is not one."""
    return read_run(path)["benchmarks"]


def read_run(path: Path) -> dict[str, Any]:
    """A pytest-benchmark JSON file (``--benchmark-json`` or a saved run) whose ``benchmarks`` entries each have
    an ``extra_info``; :class:`GateError` when there is no such file or it is not one."""
    path = Path(path)
    if not path.is_file():
        raise GateError(f"no baseline at {path}: save one first with `{SAVE_BASELINE}`")
    try:
        run = json.loads(path.read_text())
        benchmarks = run["benchmarks"]
        if not all(isinstance(bench["extra_info"], dict) for bench in benchmarks):
            raise TypeError("an extra_info that is not a mapping")
    except OSError as error:
        raise GateError(f"{path}: cannot be read ({error.strerror or error})") from None
    except KeyError as error:
        raise GateError(f"{path}: not a pytest-benchmark JSON file (no {error} in it)") from None
    except (ValueError, TypeError) as error:
        raise GateError(f"{path}: not a pytest-benchmark JSON file ({error})") from None
    return run


def load_run(path: Path) -> RunRounds:
    """A pytest-benchmark JSON file (``--benchmark-json`` or a saved run) as a :class:`RunRounds`, with the cases
    it saved apart as incomplete (:func:`~pipelines.harness.complete.saved_incomplete`)."""
    saved = read_run(path)
    benchmarks = saved["benchmarks"]
    if not benchmarks:
        raise GateError(f"{path}: holds no case at all (a run stopped before its first case finished?): save a "
                        f"new baseline with `{SAVE_BASELINE}`")
    run = rounds_from_records([bench["extra_info"] for bench in benchmarks]
                              + [entry["extra_info"] for entry in saved_incomplete(saved)], str(path))
    if not run.cases:
        raise GateError(f"{path}: no case in it recorded its rounds (saved by an older loaderbench?): save a new "
                        f"baseline with `{SAVE_BASELINE}`")
    return run


def identity_mismatch(base: RunRounds, head: RunRounds) -> list[str]:
    """``key: baseline -> this run`` for each comparable-machine field that differs."""
    return [f"{key}: {base.identity.get(key, '?')} -> {head.identity.get(key, '?')}"
            for key in IDENTITY_KEYS if base.identity.get(key) != head.identity.get(key)]


def pooled(runs: Sequence[RunRounds], source: str) -> RunRounds:
    """Several runs of one side as one: each case's rounds from every run (the A/B command's sides)."""
    cases: dict[str, CaseRounds] = {}
    for run in runs:
        for key, rounds in run.cases.items():
            cases[key] = cases[key].pooled(rounds) if key in cases else rounds
    return RunRounds(source, runs[0].identity if runs else {}, cases)


def workload_of(record: Mapping[str, object]) -> dict[str, dict[str, object]]:
    """What a case's record says it measured besides its name: the dataset, the contract, the model (for the
    groups it records; see :data:`WORKLOAD_KEYS`)."""
    workload: dict[str, dict[str, object]] = {}
    for group, key, name in WORKLOAD_KEYS:
        if key in record:
            workload.setdefault(group, {})[name] = record[key]
    contract = record.get("contract")
    if isinstance(contract, Mapping):
        workload["contract"] = dict(contract)
    return workload


def workload_differences(base: Workload, head: Workload, partial: bool = False,
                         sides: tuple[str, str] = ("baseline", "this run")) -> tuple[list[str], list[str]]:
    """How two cases' workloads differ, one line per group: ``(differences, unrecorded)``. ``differences``:
    groups both recorded with a field that differs (``dataset: smoke-60-s0, 60 images (baseline) vs
    smoke-300-s0, 300 images (this run)``); ``unrecorded``: groups, or fields, only one side recorded (a run
    saved by an older loaderbench). ``partial``: ``head`` is what is known before measuring, so only the groups
    and fields it has are compared. ``sides``: how the lines name the two."""
    differences, unrecorded = [], []
    before, after = sides
    for group in dict.fromkeys([*base, *head]):
        if partial and group not in head:
            continue
        if group not in base or group not in head:
            said = ["recorded" if group in workload else "not recorded" for workload in (base, head)]
            unrecorded.append(f"{group}: {said[0]} ({before}) vs {said[1]} ({after}), as a run saved by an older "
                              "loaderbench")
            continue
        fields = [name for name in dict.fromkeys([*base[group], *head[group]]) if not partial or name in head[group]]
        changed = [name for name in fields if base[group].get(name) != head[group].get(name)]
        if not changed:
            continue
        missing = [name for name in changed if name not in base[group] or name not in head[group]]
        if group == "dataset" and len(missing) < len(changed):
            line = (f"dataset: {_describe_dataset(base[group], fields)} ({before}) vs "
                    f"{_describe_dataset(head[group], fields)} ({after})")
        else:
            line = f"{group}: " + ", ".join(
                f"{name} {_shown(base[group], name)} ({before}) vs {_shown(head[group], name)} ({after})"
                for name in changed)
        (unrecorded if len(missing) == len(changed) else differences).append(line)
    return differences, unrecorded


def _shown(fields: Mapping[str, object], name: str) -> str:
    return str(fields[name]) if name in fields else "not recorded"


def _describe_dataset(dataset: Mapping[str, object], fields: Sequence[str]) -> str:
    """``smoke-300-s0, 300 images, 5,014,897 bytes, 3 classes``: the fields compared, each side alike."""
    parts = [str(dataset.get("name", "not recorded"))] if "name" in fields else []
    for name in ("images", "bytes", "classes"):
        if name in fields:
            value = dataset.get(name)
            parts.append(f"{value:,} {name}" if isinstance(value, int) else f"{name} not recorded")
    return ", ".join(parts)


def workload_mismatch(base: RunRounds, head: RunRounds, cases: Iterable[str]) -> tuple[list[str], list[str]]:
    """:func:`workload_differences` over ``cases`` (those both runs measured), each line once."""
    differences: dict[str, None] = {}
    unrecorded: dict[str, None] = {}
    for key in cases:
        found, missing = workload_differences(base.cases[key].workload, head.cases[key].workload)
        differences.update(dict.fromkeys(found))
        unrecorded.update(dict.fromkeys(missing))
    return list(differences), list(unrecorded)


def refuse_other_work(base: RunRounds, differences: Sequence[str], head_source: str = "this run") -> GateError:
    """The error for runs that timed different work: what differs, and what to do."""
    where = "" if head_source == "this run" else f" ({head_source})"
    return GateError(
        f"the baseline {base.source} and this run{where} differ in " + "; in ".join(differences)
        + ": their cases timed other work, so no ratio between them measures a change -- run with the "
        f"baseline's options (--preset, --images, --seed, --dataset, --batch-size, --parallelism), or save a new "
        f"baseline with `{SAVE_BASELINE}`"
    )


def planned_mismatch(base: RunRounds, planned: Workload) -> list[str]:
    """How the baseline's cases differ from what this run will measure, as far as that is known before it
    measures (``planned``: the dataset's name and size, the contract; :func:`workload_differences` with
    ``partial``): the gate refuses such a run at its start instead of after every case was timed."""
    differences: dict[str, None] = {}
    for rounds in base.cases.values():
        differences.update(dict.fromkeys(workload_differences(rounds.workload, planned, partial=True)[0]))
    return list(differences)
