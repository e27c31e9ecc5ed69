"""A run as the gate reads it: each case's rounds (seconds per epoch) and its paired reference's, from the
``extra_info`` records a pytest-benchmark JSON file holds, and where the run ran.

Kept apart from the judging (:mod:`pipelines.gate.judge`) so that every reader of runs -- the gate under pytest,
its command, the A/B command, the campaign (:mod:`pipelines.gate.campaign`) -- loads them the same way and gets
the same one-line errors for a missing baseline or a file that is not a run.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

#: What makes two runs comparable: ``extra_info`` keys written by :func:`pipelines.machine.machine_info`.
IDENTITY_KEYS: tuple[str, ...] = ("cpu_model", "cpu_count", "tensorflow", "python")

#: How a user saves a baseline (printed when there is none).
SAVE_BASELINE = "tox -e bench-baseline"


class GateError(Exception):
    """A comparison that cannot be made: no baseline, a file that is not a run, runs from different machines."""


@dataclass(frozen=True)
class CaseRounds:
    """One case's rounds: seconds per epoch, and the paired reference's seconds after each.

    ``runs``: how many of the rounds each run contributed, in order, when several runs are pooled (the A/B
    command's sides); empty for one run. Each run's rounds are normalised by that run's own reference.
    ``shared_cores``: cores' worth of CPU others took while the rounds ran (the most of any pooled run);
    ``None``: not recorded. ``cores``: the cores the run had.
    """

    case: str
    seconds: tuple[float, ...]
    paired: tuple[float, ...] = ()
    runs: tuple[int, ...] = ()
    shared_cores: float | None = None
    cores: int | None = None

    @property
    def normalisable(self) -> bool:
        return len(self.paired) == len(self.seconds) > 0 and all(p > 0 for p in self.paired)

    def samples(self, normalise: bool) -> np.ndarray:
        """The rounds' seconds; normalised, each divided by the median of its run's paired reference rounds.

        The median, not each round's own partner: the drift to cancel is the machine's between runs (10-30%
        over minutes), while the probe's round-to-round noise (5-9% on a 2-core VM) would only be added to every
        round: per-round division caught fewer seeded regressions and flagged more unchanged cases.
        """
        values = np.asarray(self.seconds, dtype=float)
        if not normalise:
            return values
        edges = np.cumsum((0, *(self.runs or (len(values),))))
        divisors = np.concatenate([np.full(end - start, np.median(self.paired[start:end]))
                                   for start, end in zip(edges[:-1], edges[1:])])
        return values / divisors

    def pooled(self, other: CaseRounds) -> CaseRounds:
        """This case's rounds with another run's (the A/B command pools its runs per side)."""
        both = self.normalisable and other.normalisable
        runs = (self.runs or (len(self.seconds),)) + (other.runs or (len(other.seconds),))
        shared = None if None in (self.shared_cores, other.shared_cores) else max(self.shared_cores,
                                                                                  other.shared_cores)
        return CaseRounds(self.case, self.seconds + other.seconds, self.paired + other.paired if both else (), runs,
                          shared, self.cores or other.cores)

    @property
    def free_cores(self) -> float | None:
        if self.shared_cores is None or self.cores is None:
            return None
        return max(0.0, self.cores - self.shared_cores)


@dataclass(frozen=True)
class RunRounds:
    """What a run measured, per case, and where it ran."""

    source: str
    identity: Mapping[str, str]
    cases: Mapping[str, CaseRounds]


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
    """A run from ``extra_info`` records (this session's, or a JSON file's); records without rounds are left out."""
    cases: dict[str, CaseRounds] = {}
    identity: dict[str, str] = {}
    for record in records:
        seconds = record.get("round_seconds")
        if not seconds:
            continue
        key = case_key(record)
        shared = (record["other_cores"] + record.get("steal_cores", 0.0)) if "other_cores" in record else None
        cases[key] = CaseRounds(key, tuple(seconds), tuple(record.get("paired_seconds") or ()),
                                shared_cores=shared, cores=record.get("available_cores"))
        identity = identity or identity_of(record)
    return RunRounds(source, identity, cases)


def read_benchmarks(path: Path) -> list[dict[str, Any]]:
    """The ``benchmarks`` entries of a pytest-benchmark JSON file (``--benchmark-json`` or a saved run), each
    with its ``extra_info``; :class:`GateError` when there is no such file or it is not one."""
    path = Path(path)
    if not path.is_file():
        raise GateError(f"no baseline at {path}: save one first with `{SAVE_BASELINE}`")
    try:
        benchmarks = json.loads(path.read_text())["benchmarks"]
        if not all(isinstance(bench["extra_info"], dict) for bench in benchmarks):
            raise TypeError("an extra_info that is not a mapping")
    except (ValueError, KeyError, TypeError) as error:
        raise GateError(f"{path}: not a pytest-benchmark JSON file ({error})") from None
    return benchmarks


def load_run(path: Path) -> RunRounds:
    """A pytest-benchmark JSON file (``--benchmark-json`` or a saved run) as a :class:`RunRounds`."""
    run = rounds_from_records([bench["extra_info"] for bench in read_benchmarks(path)], str(path))
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
