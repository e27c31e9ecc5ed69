"""Every epoch of a case saw every image, or the case says it did not and posts no time.

A fault can end an epoch early without an error: a tf.data service worker that dies takes the elements it held
with it, and the epoch is then short, and fast. Its time is the time of less work; posted, it would read as a
speed-up. So every epoch of a case is counted -- the untimed ones that fill a cache or calibrate the rounds as
well as the timed ones -- and a case with one that saw another number of images than the dataset holds:

* records ``complete: False``, the count of the first such epoch (``images_seen``), the dataset's
  (``images_expected``) and how many of its epochs were off (:func:`incomplete_info`), and no rate;
* fails, with one line (:func:`incomplete_line`);
* is taken out of pytest-benchmark's cases before it writes its JSON, prints its tables or compares
  (:func:`drop_incomplete`): pytest-benchmark keeps a case whose test failed after its rounds with its stats, and
  leaves out only one whose rounds raised (``has_error``, and even then only from the JSON). Its record is saved
  beside them, under ``loaderbench.incomplete`` (:data:`SAVED_UNDER`), where no reader takes it for a time;
* is left out of every figure by the readers of records -- the summary, the report, the gate -- each saying why
  (:func:`is_complete`, :func:`incomplete_reason`).

Nothing here imports pytest or TensorFlow: the gate's command reads it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

#: Where a saved run holds the records of its incomplete cases: ``output_json["loaderbench"]["incomplete"]``, a list
#: of entries shaped as pytest-benchmark's ``benchmarks`` ones (``name``, ``fullname``, ``group``, ``extra_info``)
#: without ``stats``.
SAVED_UNDER = ("loaderbench", "incomplete")


def incomplete_info(epoch_images: Sequence[int], expected: int) -> dict[str, Any] | None:
    """``complete: False`` with the first count of ``epoch_images`` (images seen by each epoch of a case) that is
    not ``expected`` and how many were off; ``None`` when every epoch saw ``expected`` images."""
    off = [seen for seen in epoch_images if seen != expected]
    if not off:
        return None
    return {"complete": False, "images_seen": off[0], "images_expected": expected, "epochs": len(epoch_images),
            "incomplete_epochs": len(off)}


def is_complete(record: Mapping[str, Any]) -> bool:
    """Whether a case's record may be read as a time: every record but one marked ``complete: False``."""
    return record.get("complete") is not False


def incomplete_reason(record: Mapping[str, Any]) -> str:
    """``an epoch saw 8 of 12 images``: what made ``record`` incomplete."""
    return f"an epoch saw {record.get('images_seen')} of {record.get('images_expected')} images"


def incomplete_line(record: Mapping[str, Any]) -> str:
    """The one line a user reads about an incomplete case: which, what it saw, what was done and what to do."""
    kind = "training " if "model" in record else ""
    return (f"{kind}{record.get('case')}-{record.get('epoch')}: {incomplete_reason(record)} (elements lost: a "
            "tf.data service worker that died, a loader that drops some): left out of the results, its times are "
            "no throughput -- rerun it, and fix the loader if it recurs")


def drop_incomplete(benchmarks: list[Any]) -> list[dict[str, Any]]:
    """Remove, in place, pytest-benchmark's cases whose record is incomplete; their entries as a saved run holds
    them under :data:`SAVED_UNDER` (a ``benchmarks`` entry without its stats)."""
    dropped = [benchmark for benchmark in benchmarks if not is_complete(benchmark.extra_info)]
    benchmarks[:] = [benchmark for benchmark in benchmarks if is_complete(benchmark.extra_info)]
    return [{"group": benchmark.group, "name": benchmark.name, "fullname": benchmark.fullname,
             "extra_info": dict(benchmark.extra_info)} for benchmark in dropped]


def saved_incomplete(run: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The entries a saved run (pytest-benchmark's JSON, read) holds under :data:`SAVED_UNDER`, each with a
    mapping ``extra_info``; none from a run without them."""
    section: Any = run
    for key in SAVED_UNDER:
        section = section.get(key) if isinstance(section, Mapping) else None
    if not isinstance(section, list):
        return []
    return [entry for entry in section if isinstance(entry, Mapping) and isinstance(entry.get("extra_info"), Mapping)]
