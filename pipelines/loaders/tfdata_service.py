"""``tf.data`` on a tf.data service: the folder loader's read/decode/resize run by the service's workers.

The pipeline is the folder loader's (:mod:`pipelines.loaders.tfdata`) cut in two at ``distribute``. The file
names, their shuffle, the parallel read/decode/resize map and the batching are serialised and sent to the
dispatcher, which hands the file names out to its workers a few at a time (``ShardingPolicy.DYNAMIC``,
"distributed_epoch"), so that every image is decoded exactly once per epoch, by whichever worker asks first.
The trainer's process receives the workers' batches over gRPC and does the rest of the shared tail: rebatch to
the contract's batch size, normalise, labels, prefetch.

When it pays off: when the workers have cores the trainer does not -- other machines, or a trainer whose own
cores are busy (a GPU feeder, augmentation, the model on CPU). Decoding then scales past one machine.

What it costs: every batch is serialised by a worker, sent over gRPC and deserialised by the client, whose
iterator also spends a thread on the RPCs and on heartbeats to the dispatcher; each epoch is a new job, which
the dispatcher creates and the client must see finish. With the workers on the trainer's own machine (the local
service the suite starts) nothing is gained and all of that is overhead: an epoch takes longer than the folder
loader's and more CPU time (docs/results.md). The local service measures that overhead; the speed-up needs
workers elsewhere.

Three choices, each measured on that set-up against its alternative, epochs interleaved:

* **Batches, not images, are sent.** Workers batch what they decode (each worker's last batch of an epoch is
  short) and the client rebatches to the contract's size (full batches, one short last batch, as the folder
  loader). Batches made the faster epochs: one message per batch instead of one per image. Either way every
  image is decoded once: dynamic sharding hands each file name out once.
* **No compression.** ``compression="AUTO"`` compressed the decoded pixels, which barely compress, and cost
  CPU on both sides for nothing (epochs were slower with it); elements that cross a real network may gain from
  it, but decoded photographs gain little.
* **The client asks the dispatcher for task changes every** :data:`TASK_REFRESH_MS` ms, not the default
  second: an epoch ends only when the client learns that its job has finished, which with the default comes up
  to a second after the last image, most of a short epoch. A fixed wait per epoch, not a cost per
  image; users of the public API pay it, and it is the one knob taken from TensorFlow's private
  ``_distribute`` (the public ``distribute`` is used if that ever goes away).

Shuffling differs from the folder loader's in one way: the service instantiates the pipeline afresh for every
job, so ``reshuffle_each_iteration`` has no previous iteration to move on from and a seeded shuffle would
replay one order every epoch (checked, and tested). Each epoch is therefore a dataset of its own, its file
names shuffled with ``contract.seed + epoch``; :class:`ServiceEpochs` builds the next one while the current
one runs.
"""

from __future__ import annotations

import inspect
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import tensorflow as tf

from pipelines.loaders.contract import Contract
from pipelines.datasets import DatasetIndex
from pipelines.loaders.tfops import decode_resized, encode_labels, normalise, parallel_calls
from pipelines.loaders.service_address import check_service

#: How often (ms) the client asks the dispatcher for task changes, and so the longest an epoch waits after its
#: last image to learn that its job is done. 20 ms: the client's CPU time per epoch was the same as at 100 ms
#: within noise, and 100 ms showed up as steps of that size in short epochs' times.
TASK_REFRESH_MS = 20


class ServiceEpochs:
    """The service pipeline's epochs, as :meth:`Pipeline.epoch <pipelines.loaders.Pipeline.epoch>` takes them.

    The first epoch's dataset is built (and registered with the dispatcher) with the pipeline. A shuffled
    pipeline needs a dataset of its own for every later epoch (the service would replay the first order); the
    next one is built in a background thread as soon as an epoch starts, so that an epoch does not wait for
    it: building one (tracing its functions, registering its graph with the dispatcher) takes a share of a
    short epoch when built at the epoch's start, and is hidden behind the epoch's own work when built ahead.
    An epoch ends once that build has: no build outlives the epoch that
    started it, so none is left running against a service that has been stopped.

    Attributes:
        dataset: the ``tf.data.Dataset`` of the epoch started last (of the first, before any): one epoch of
            ``(images, labels)`` batches, for ``model.fit(..., epochs=1)``.
    """

    def __init__(self, build: Callable[[int], tf.data.Dataset], reshuffle: bool) -> None:
        self._build = build
        self._reshuffle = reshuffle
        self._epochs = 0
        self._ahead: _Ahead | None = None
        self.dataset = build(0)

    @property
    def element_spec(self) -> Any:
        return self.dataset.element_spec

    def next_dataset(self) -> tf.data.Dataset:
        """The dataset of the next epoch; a shuffled pipeline starts building the one after it."""
        if self._reshuffle:
            if self._ahead is not None:
                self.dataset = self._ahead.result()
            self._ahead = _Ahead(self._build, self._epochs + 1)
        self._epochs += 1
        return self.dataset

    def epoch(self) -> Iterator[tuple[tf.Tensor, tf.Tensor]]:
        """An iterator over one whole epoch."""
        dataset = self.next_dataset()
        return _EpochIterator(iter(dataset), self._ahead)

    def __iter__(self) -> Iterator[tuple[tf.Tensor, tf.Tensor]]:
        return self.epoch()


class _Ahead:
    """``build(epoch)`` running in a daemon thread; :meth:`result` waits for it and raises what it raised."""

    def __init__(self, build: Callable[[int], tf.data.Dataset], epoch: int) -> None:
        self._outcome: list[Any] = []

        def run() -> None:
            try:
                self._outcome.append(build(epoch))
            except BaseException as error:  # handed to the caller of result()
                self._outcome.append(error)

        self._thread = threading.Thread(target=run, name=f"service-epoch-{epoch}", daemon=True)
        self._thread.start()

    def wait(self) -> None:
        self._thread.join()

    def result(self) -> tf.data.Dataset:
        self.wait()
        outcome = self._outcome[0]
        if isinstance(outcome, BaseException):
            raise outcome
        return outcome


class _EpochIterator:
    """An epoch's tf.data iterator that, at its end, waits for the next epoch's build (see
    :class:`ServiceEpochs`). A class rather than a generator: the tf.data iterator stays referenced after the
    last batch, so a caller that keeps the exhausted iterator (``run_epoch``) also defers its destruction."""

    def __init__(self, iterator: Iterator, ahead: _Ahead | None) -> None:
        self.iterator = iterator
        self._ahead = ahead

    def __iter__(self) -> _EpochIterator:
        return self

    def __next__(self) -> tuple[tf.Tensor, tf.Tensor]:
        try:
            return next(self.iterator)
        except StopIteration:
            if self._ahead is not None:
                self._ahead.wait()
            raise


def build_tfdata_service_pipeline(index: DatasetIndex, contract: Contract,
                                  cache_prefix: Path | None) -> ServiceEpochs:
    """File list -> (on the service) shuffle, parallel read/decode/resize, batch -> (here) rebatch, the tail.

    The dispatcher's address is checked first (:func:`~pipelines.loaders.service_address.check_service`), so a wrong
    one fails
    in seconds with its reason rather than after the tf.data client's long retries.

    Without ``contract.shuffle`` and with one worker, images arrive in the folder loader's order, bit-equal
    (tested); with several workers the order interleaves theirs, as ``DYNAMIC`` sharding does. With it, the
    file names are shuffled over the whole dataset before decoding, as the folder loader does, with a new seed
    every epoch (see the module docstring). Each iteration is a new job (``job_name=None``), so every epoch
    sees every image exactly once. ``cache_prefix`` is unused: the loader offers no cache.
    """
    address = contract.service_address
    if not address:
        raise ValueError("the tf.data service loader needs contract.service_address (grpc://host:port)")
    check_service(address)
    paths = tf.constant([str(p) for p in index.paths])
    labels = tf.constant(index.labels, dtype=tf.int32)
    num_classes = len(index.class_names)
    calls = parallel_calls(contract)
    deterministic = not contract.shuffle

    if contract.placement == "float32":  # normalised on the workers, as the folder loader does before its cache
        def load(path, label):
            return normalise(decode_resized(path, contract)), label

        def finalise(images, labels):
            return images, encode_labels(labels, contract, num_classes)
    else:
        def load(path, label):
            return decode_resized(path, contract), label

        def finalise(images, labels):
            return normalise(images), encode_labels(labels, contract, num_classes)

    def build(epoch: int) -> tf.data.Dataset:
        files = tf.data.Dataset.from_tensor_slices((paths, labels))
        if contract.shuffle:
            files = files.shuffle(index.images, seed=contract.seed + epoch, reshuffle_each_iteration=False)
        batches = (files.map(load, num_parallel_calls=calls, deterministic=deterministic)
                   .batch(contract.batch_size, num_parallel_calls=calls, deterministic=deterministic))
        received = batches.apply(_distribute(address)).rebatch(contract.batch_size)
        return received.map(finalise, num_parallel_calls=calls, deterministic=deterministic) \
            .prefetch(tf.data.AUTOTUNE)

    return ServiceEpochs(build, reshuffle=contract.shuffle)


def _distribute(address: str) -> Callable[[tf.data.Dataset], tf.data.Dataset]:
    """``tf.data.experimental.service.distribute`` as the module docstring says: dynamic sharding, a new job
    every iteration, no compression, and task changes polled every :data:`TASK_REFRESH_MS` ms."""
    service = tf.data.experimental.service
    options: dict[str, Any] = dict(processing_mode=service.ShardingPolicy.DYNAMIC, service=address, job_name=None,
                                   compression=None)
    try:
        from tensorflow.python.data.experimental.ops.data_service_ops import _distribute as private_distribute
    except ImportError:
        return service.distribute(**options)
    if "task_refresh_interval_hint_ms" not in inspect.signature(private_distribute).parameters:
        return service.distribute(**options)
    return private_distribute(**options, task_refresh_interval_hint_ms=TASK_REFRESH_MS)
