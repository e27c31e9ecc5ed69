"""The declaration of a loader (:class:`LoaderSpec`): public, so that a team declares its own pipeline in its own
package and the suite times it beside ours (docs/own-pipeline.md).

A builder is a function ``build(index, contract, cache_prefix)``: ``index`` the dataset's files and labels
(:class:`pipelines.datasets.DatasetIndex`: ``paths``, ``labels``, ``class_names``), ``contract`` what to deliver
(:class:`pipelines.loaders.contract.Contract`: ``image_size``, ``batch_size``, ``placement``, ``shuffle``,
``seed``, ``cache``, ``label_mode``), ``cache_prefix`` the file prefix of a file cache (``None`` for the other
cache modes). It returns what Keras' ``fit`` accepts: a ``tf.data.Dataset``, a ``keras.utils.PyDataset``, or an
iterable of ``(images, labels)`` batches whose every ``iter()`` is a new epoch.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pipelines.caches.modes import CACHE_MODES
from pipelines.optional import install_hint, unusable


@dataclass(frozen=True)
class LoaderSpec:
    """A loader, declared once: what builds it and what it offers. Cases, skip reasons and reports read it.

    Attributes:
        name: the loader's name in case ids.
        label: its name for people (skip reasons, reports).
        module, builder: where its builder function lives; imported lazily (ImageDataGenerator pulls in tf_keras).
        caches: the cache modes it offers.
        listed_caches: cache modes it lists as cases even without offering them, so that a reader sees the
            case skipped with its reason instead of missing (ImageDataGenerator's memory and file caches).
        placement: the one placement it yields whatever the cache (ImageDataGenerator: ``float32``); ``None``
            offers both placements with a cache and ``uint8`` without.
        variant_of: the loader this one varies (built another way its users build it), or ``None``.
        trained: training cases exist for it (a decode variant is a throughput question: the model, not the
            decode, sets a CPU epoch).
        approximate_decode: its pixels differ from the exact decode by design; the difference is measured and
            reported with its cases.
        on_service: its pipeline runs on a tf.data service (``Contract.service_address``); the suite starts a
            local one for its cases unless given an address.
        emulated_hosts: for a service loader, its cases run on a service of this many workers, each on an
            emulated host of its own (:mod:`pipelines.dataservice.cluster`), skipped where hosts cannot be
            emulated; 0: the local service or ``--data-service``.
        extended: its cases belong to the extended group (``--extended``), outside the default run's budget.
        requires: the optional package it needs (``grain``), if any; where it is not installed or fails to
            import, its cases are skipped naming ``extra``, the project extra that installs it.
        extra: the project extra (``pip install '.[grain]'``) that brings ``requires`` in.
        worker_processes: it loads in worker processes of its own, whose memory is sampled with the epochs
            (:mod:`pipelines.memory.workers`).
        reshuffles: with shuffling on, each epoch is a new order; ``False`` for a loader that shuffles once, as
            its users get it (Keras' ``format="grain"``: the same order every epoch).
        augmented: its pipeline changes the pixels on purpose (its own augmentation): its images are checked
            for shape, type and count, not compared with the exact decode, and the summary says so.
    """

    name: str
    label: str
    module: str
    builder: str
    caches: tuple[str, ...] = CACHE_MODES
    listed_caches: tuple[str, ...] = ()
    placement: str | None = None
    variant_of: str | None = None
    trained: bool = True
    approximate_decode: bool = False
    on_service: bool = False
    emulated_hosts: int = 0
    extended: bool = False
    requires: str | None = None
    extra: str | None = None
    worker_processes: bool = False
    reshuffles: bool = True
    augmented: bool = False

    @property
    def base(self) -> str:
        """The loader this one belongs to (``idg-processes`` -> ``idg``)."""
        return self.variant_of or self.name

    def missing(self) -> str | None:
        """Why this loader cannot be built on this installation (its optional package is not installed, or
        fails to import), naming the extra that installs it; None where it can.

        The package is imported to tell (:func:`pipelines.optional.unusable`): ask where the loader is about to
        be built or its cases to run, not while collecting them.
        """
        if self.requires is None or (cause := unusable(self.requires)) is None:
            return None
        return (f"{self.label} needs the optional package {self.requires!r}, {cause}: "
                f"{install_hint(self.extra or self.requires)}")

    def build_function(self) -> Callable[..., Any]:
        return getattr(__import__(self.module, fromlist=[self.builder]), self.builder)
