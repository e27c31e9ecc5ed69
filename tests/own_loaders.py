"""Loaders a team might declare, each broken one way (and one that keeps the contract), for
tests/test_own_pipeline.py: ``tests.own_loaders:SPECS`` is a declaration a run can name."""

from __future__ import annotations

import time

import keras
import tensorflow as tf

from pipelines.loaders.spec import LoaderSpec
from pipelines.loaders.kerasdir import build_kerasdir_pipeline
from pipelines.loaders.tfdata import build_tfdata_pipeline


def keeps(index, contract, cache_prefix):
    return build_tfdata_pipeline(index, contract, cache_prefix)


def reads_folder(index, contract, cache_prefix):
    """Keras' own folder loader on ``index.root``: a builder that walks the folder itself."""
    return build_kerasdir_pipeline(index, contract, cache_prefix)


def raises(index, contract, cache_prefix):
    raise RuntimeError("no GPU here\nsecond line")


def wrong_shape(index, contract, cache_prefix):
    return build_tfdata_pipeline(index, contract, cache_prefix).map(lambda x, y: (x[:, :16], y))


def wrong_dtype(index, contract, cache_prefix):
    return build_tfdata_pipeline(index, contract, cache_prefix).map(lambda x, y: (tf.cast(255 * x, tf.uint8), y))


def drops(index, contract, cache_prefix):
    return build_tfdata_pipeline(index, contract, cache_prefix).unbatch().skip(1).batch(contract.batch_size)


def repeats(index, contract, cache_prefix):
    once = build_tfdata_pipeline(index, contract, cache_prefix).unbatch()
    return once.concatenate(once.take(1)).batch(contract.batch_size)


def never_ends(index, contract, cache_prefix):
    return build_tfdata_pipeline(index, contract, cache_prefix).repeat()


def blocks(index, contract, cache_prefix):
    return _Blocking()


class _Blocking:
    """An iterable whose epoch never yields: it waits for a batch that never comes."""

    def __iter__(self):
        time.sleep(3600)
        return iter(())


def generator(index, contract, cache_prefix):
    return (batch for batch in build_tfdata_pipeline(index, contract, cache_prefix))


def other_pixels(index, contract, cache_prefix):
    return build_tfdata_pipeline(index, contract, cache_prefix).map(lambda x, y: (1.0 - x, y))


class Batches(keras.utils.PyDataset):
    """A team's PyDataset: the exact pipeline's batches, by index."""

    def __init__(self, batches: list) -> None:
        super().__init__()
        self._batches = batches

    def __len__(self) -> int:
        return len(self._batches)

    def __getitem__(self, i: int):
        return self._batches[i]


def pydataset(index, contract, cache_prefix):
    return Batches([(x.numpy(), y.numpy()) for x, y in build_tfdata_pipeline(index, contract, cache_prefix)])


def _spec(name: str, builder: str, **changes) -> LoaderSpec:
    return LoaderSpec(f"own-{name}", f"own ({name})", __name__, builder, caches=("none",), **changes)


SPECS = {name: _spec(name, name) for name in ("keeps", "raises", "wrong_shape", "wrong_dtype", "drops", "repeats",
                                              "never_ends", "blocks", "generator", "other_pixels", "pydataset",
                                              "reads_folder")}
SPECS["flips"] = _spec("flips", "other_pixels", augmented=True)
SPECS["missing"] = LoaderSpec("own-missing", "own (missing)", "tests.no_such_module", "build", caches=("none",))
KEEPS = SPECS["keeps"]
RAISES = SPECS["raises"]
