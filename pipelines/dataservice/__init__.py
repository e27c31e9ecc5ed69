"""The tf.data service's processes: a local dispatcher and workers started for a benchmark run
(:mod:`~pipelines.dataservice.local`, whose children run :mod:`~pipelines.dataservice.worker`), and a cluster of
emulated hosts (:mod:`~pipelines.dataservice.cluster`) for the ``scale`` and ``faults`` commands
(``python -m pipelines.dataservice``). A given dispatcher's address is checked by
:mod:`pipelines.loaders.service_address`.

Names are imported on first use, so that ``python -m pipelines.dataservice.worker`` (a service child) does not
import its own module twice through this package.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

_NAMES = {"Address": "pipelines.loaders.service_address", "ServiceError": "pipelines.loaders.service_address",
          "check_service": "pipelines.loaders.service_address", "parse_address": "pipelines.loaders.service_address",
          "LocalService": "pipelines.dataservice.local", "default_workers": "pipelines.dataservice.local"}

__all__ = sorted(_NAMES)


def __getattr__(name: str) -> Any:
    if name in _NAMES:
        return getattr(import_module(_NAMES[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
