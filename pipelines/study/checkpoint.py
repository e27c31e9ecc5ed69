"""A measuring study's points kept as they are measured, so that a stopped run loses none (``--resume``).

A full-size check of 117,266 images can take hours on a slow volume (one cold epoch is 12-26 minutes where a read
takes 10-20 ms), longer than a machine may be free. Every point is written to ``study.partial.json`` in the
study's ``--out`` folder the moment it is measured (written to a temporary name and renamed, so the file is
always whole), and removed once ``study.json`` is written. ``--resume`` starts from it: the points it holds are
reused, the rest measured; a run without ``--resume`` that finds one refuses to start rather than overwrite it. Only points measured the same way are reused -- the same preset, seed, contract,
limits and model, the same number of rounds at that size -- and a file written under other settings is refused
with what differs, never mixed in.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from pipelines.study.scaling import Point
from pipelines.study.settings import StudySettings


def measured_as(settings: StudySettings) -> dict[str, Any]:
    """What decides how a point is measured (beyond its row, epoch kind, size and rounds), as JSON data."""
    return json.loads(json.dumps({"preset": settings.preset, "seed": settings.seed,
                                  "accelerator": settings.accelerator,
                                  "min_round_s": settings.min_round_s, "contract": asdict(settings.contract),
                                  "limits": asdict(settings.limits)}, default=str))


@dataclass
class Checkpoint:
    """The points measured so far, kept in ``path``, and the machine's state the study recorded beside them
    (``state``: its free disk before the epochs, its own memory after the smallest size's), kept so that a
    resumed run predicts from the state the reused points were measured in, not from the machine's now; and,
    apart, the points of rows measured a second time (``again``, :meth:`second_pass`)."""

    path: Path
    settings: StudySettings
    points: dict[tuple, Point] = field(default_factory=dict)
    state: dict[str, int] = field(default_factory=dict)
    again: dict[tuple, Point] = field(default_factory=dict)

    @classmethod
    def open(cls, path: Path, settings: StudySettings, resume: bool) -> Checkpoint:
        """A new checkpoint at ``path``, or with ``resume`` the one a stopped run left there (none: a new one).
        A :class:`ValueError` if that one was measured under other settings, or if one is there and ``resume``
        is off: a run that forgot ``--resume`` must not overwrite hours of a stopped one's points."""
        checkpoint = cls(Path(path), settings)
        if not checkpoint.path.exists():
            return checkpoint
        if not resume:
            raise ValueError(f"{checkpoint.path} holds the points of a stopped study: add --resume to go on from "
                             "them, or remove the file (or choose another --out) to measure afresh")
        try:
            saved = json.loads(checkpoint.path.read_text())
            points = [Point(**{**p, "seconds": tuple(p["seconds"])}) for p in saved["points"]]
            again = [Point(**{**p, "seconds": tuple(p["seconds"])}) for p in saved.get("again", [])]
            theirs = saved["measured_as"]
            state = {str(k): int(v) for k, v in saved.get("state", {}).items()}
        except (OSError, ValueError, KeyError, TypeError) as error:
            raise ValueError(f"--resume: {checkpoint.path} is not a checkpoint of this command ({error}); "
                             "remove it, or run without --resume") from None
        ours = measured_as(settings)
        if theirs != ours:
            differ = ", ".join(sorted(k for k in ours if ours[k] != theirs.get(k)))
            raise ValueError(f"--resume: {checkpoint.path} was measured with another {differ}; resume with the "
                             "same options, or run without --resume to measure afresh")
        checkpoint.points = {_key(p): p for p in points}
        checkpoint.state = state
        checkpoint.again = {_key(p): p for p in again}
        return checkpoint

    def take(self, case: str, epoch: str, images: int, model: str | None, second: bool = False) -> Point | None:
        """The point a stopped run measured for this row, epoch kind, size and model with this run's rounds (of
        the :meth:`second_pass` with ``second``)."""
        point = (self.again if second else self.points).get((case, epoch, images, model))
        if point is None or len(point.seconds) != self.settings.plan_at(images).rounds:
            return None
        return point

    def keep(self, point: Point, second: bool = False) -> None:
        """Record ``point`` (of the :meth:`second_pass` with ``second``; written at once, whole)."""
        (self.again if second else self.points)[_key(point)] = point
        self._write()

    def second_pass(self) -> SecondPass:
        """This checkpoint for the points of rows measured again because their fitted sizes lay off their line
        (:mod:`pipelines.study.in_line`), kept apart from the first pass's: a resumed run finds the same rows off
        their line and takes their second pass from here instead of measuring them a third time."""
        return SecondPass(self)

    def recorded(self, name: str, measure: Callable[[], int]) -> int:
        """The state ``name`` as the stopped run recorded it, or else ``measure()``-d now and kept."""
        if name not in self.state:
            self.state[name] = int(measure())
            self._write()
        return self.state[name]

    def _write(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        temporary = self.path.with_name(f".{self.path.name}.tmp")
        temporary.write_text(json.dumps({"measured_as": measured_as(self.settings), "state": self.state,
                                         "points": [asdict(p) for p in self.points.values()],
                                         "again": [asdict(p) for p in self.again.values()]}))
        os.replace(temporary, self.path)

    def discard(self) -> None:
        """The study is written: the checkpoint is no longer needed."""
        self.path.unlink(missing_ok=True)


@dataclass(frozen=True)
class SecondPass:
    """A :class:`Checkpoint`'s second-pass points, with the ``take``/``keep`` that measuring a size asks of one."""

    checkpoint: Checkpoint

    def take(self, case: str, epoch: str, images: int, model: str | None) -> Point | None:
        return self.checkpoint.take(case, epoch, images, model, second=True)

    def keep(self, point: Point) -> None:
        self.checkpoint.keep(point, second=True)


def _key(point: Point) -> tuple:
    return point.case, point.epoch, point.images, point.model
