"""What a study measures (:class:`Point`), kept as measured in ``study.partial.json`` (always whole), so that a
stopped run loses none: ``--resume`` reuses those measured the same way (preset, seed, contract, limits, model,
rounds); a file of other settings is refused with what differs, one found without ``--resume`` never overwritten.
"""

from __future__ import annotations

import json
import os
import statistics
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from pipelines.study.settings import StudySettings


@dataclass(frozen=True)
class Point:
    """One row's epochs of one kind at one size: an epoch's ``seconds`` in each round, a file cache's bytes, the
    JPEGs', the ``cores`` pinned to (``None``: all), the ``model`` trained (``None``: the loader alone)."""

    case: str
    epoch: str
    images: int
    seconds: tuple[float, ...]
    cache_bytes: int
    dataset_bytes: int
    cores: int | None = None
    model: str | None = None

    @classmethod
    def read(cls, saved: dict) -> Point:
        """A point as study.json or a checkpoint saved it (fields this version does not keep are left out)."""
        known = {f.name for f in fields(cls)}
        return cls(**{**{k: v for k, v in saved.items() if k in known}, "seconds": tuple(saved["seconds"])})

    @property
    def median_s(self) -> float:
        return statistics.median(self.seconds)


def measured_as(settings: StudySettings) -> dict[str, Any]:
    """What decides how a point is measured (beyond its row, epoch kind, size and rounds), as JSON data."""
    return json.loads(json.dumps({"preset": settings.preset, "seed": settings.seed,
                                  "accelerator": settings.accelerator, "min_round_s": settings.min_round_s,
                                  "contract": asdict(settings.contract), "limits": asdict(settings.limits)},
                                 default=str))


@dataclass
class Checkpoint:
    """The points so far, by row, epoch kind, size and model, and the machine's state recorded beside them, so
    that a resumed run predicts from the state its reused points were measured in."""

    path: Path
    settings: StudySettings
    points: dict[tuple, Point] = field(default_factory=dict)
    state: dict[str, int] = field(default_factory=dict)

    @classmethod
    def open(cls, path: Path, settings: StudySettings, resume: bool) -> Checkpoint:
        """A new checkpoint at ``path``, or with ``resume`` the one a stopped run left there (see the module)."""
        checkpoint = cls(Path(path), settings)
        if not checkpoint.path.exists():
            return checkpoint
        if not resume:
            raise ValueError(f"{checkpoint.path} holds the points of a stopped study: add --resume to go on from "
                             "them, or remove the file (or choose another --out) to measure afresh")
        try:
            saved = json.loads(checkpoint.path.read_text())
            points = [Point.read(p) for p in saved["points"]]
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
        return checkpoint

    def take(self, case: str, epoch: str, images: int, model: str | None, rounds: int) -> Point | None:
        """The point a stopped run measured for this row, epoch kind, size and model, its first ``rounds``
        rounds (``None``: it measured fewer)."""
        point = self.points.get((case, epoch, images, model))
        return replace(point, seconds=point.seconds[:rounds]) if point and len(point.seconds) >= rounds else None

    def keep(self, point: Point) -> None:
        """Record ``point``, written at once, whole."""
        self.points[_key(point)] = point
        self._write()

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
                                         "points": [asdict(p) for p in self.points.values()]}))
        os.replace(temporary, self.path)


def _key(point: Point) -> tuple:
    return point.case, point.epoch, point.images, point.model
