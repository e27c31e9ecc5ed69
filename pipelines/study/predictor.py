"""The table's rows at any size from a study's points (:class:`Predictor`), apart from the run that fits it
(:mod:`pipelines.study.run`), so that the error bands (:mod:`pipelines.study.bands`) vary it without importing that
run back."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from pipelines.caches.bandwidth import Bandwidth
from pipelines.memory.fill_rate import MemoryFill
from pipelines.memory.predict import predict_cache
from pipelines.study.bounds import fill_s
from pipelines.study.scaling import STUDY_CASES, Point
from pipelines.study.settings import CASES_BY_ID, StudySettings
from pipelines.study.table import (StudyRow, epoch_traffic, later_epochs_read_storage, laws, study_rows,
                                   with_training)


@dataclass(frozen=True)
class Predictor:
    """The table's rows at any size from a study's points: the loaders' laws (fitted without the held-out size),
    those of ``trained``'s measured training epochs where they are used, the storage's rates that bound
    epochs moving bytes (:mod:`pipelines.study.bounds`), what a fresh byte costs a memory cache's fill
    (:mod:`pipelines.memory.fill_rate`), and the budget and disk rules (the process's ``resident_bytes`` taking
    their part of the budget from the page cache)."""

    settings: StudySettings
    points: Sequence[Point]
    trained: str | None
    per_image_bytes: float
    disk: int
    bandwidths: Sequence[Bandwidth] = ()
    resident_bytes: int = 0
    memory_fills: Sequence[MemoryFill] = ()

    def cache_bytes(self, images: int, case_id: str) -> int:
        contract = CASES_BY_ID[case_id].contract(self.settings.contract)
        return predict_cache(images, contract).total_bytes if contract.cache_spec.caches else 0

    def traffic(self, images: int, case_id: str, kind: str) -> tuple[float, float, float]:
        """``(seconds, bytes read, their read rate)`` of storage traffic of a (case id, epoch kind) at ``images`` images
        (:func:`~pipelines.study.table.epoch_traffic`)."""
        return epoch_traffic(CASES_BY_ID[case_id], kind, self.per_image_bytes * images,
                             self.cache_bytes(images, case_id), self.settings.ram_budget, self.resident_bytes,
                             self.bandwidths)

    def io(self, images: int) -> Callable[[str, str], float]:
        """Seconds of storage traffic alone of a (case id, epoch kind) at ``images`` images."""
        return lambda case_id, kind: self.traffic(images, case_id, kind)[0]

    def fill(self, images: int) -> Callable[[str, str], float]:
        """Seconds a (case id, epoch kind) adds to its law at ``images`` images for fresh pages (:func:`fill_s`)."""
        return lambda case_id, kind: fill_s(CASES_BY_ID[case_id], kind, self.cache_bytes(images, case_id),
                                            self.memory_fills)

    def later_kind(self, images: int) -> Callable[[str], str]:
        """The law a later epoch of a case id follows at ``images`` images, as the table's rules pick it."""
        jpeg_bytes = self.per_image_bytes * images
        return lambda case_id: ("cold" if later_epochs_read_storage(CASES_BY_ID[case_id], jpeg_bytes,
                                                                   self.settings.ram_budget, self.resident_bytes)
                                else "warm")

    def rows(self, images: int) -> list[StudyRow]:
        settings = self.settings
        jpeg_bytes = int(self.per_image_bytes * images)

        def rows_of(model: str | None) -> list[StudyRow]:
            return study_rows(STUDY_CASES, laws(self.points, settings.held_out, model), images, jpeg_bytes,
                              settings.contract, settings.ram_budget, self.disk, self.bandwidths,
                              self.resident_bytes, self.memory_fills)

        loaders = rows_of(None)
        return with_training(loaders, rows_of(self.trained)) if self.trained else loaders
