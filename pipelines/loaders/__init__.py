"""Pipeline builders, one module per loader, and the one call that builds any of them.

``open_pipeline(loader, index, contract)`` is the single entry point: it builds the loader's pipeline under the
shared :class:`~pipelines.loaders.contract.Contract`, gives it a temporary cache folder when it needs one, and removes
that folder when the ``with`` block ends. Its names are imported on first use, so that a team's loader declaration
importing :mod:`pipelines.loaders.spec` does not start the registry that imports that declaration.
"""

from importlib import import_module

_HOMES = {"LOADERS": "pipelines.loaders.registry", "Pipeline": "pipelines.loaders.pipeline",
          "open_pipeline": "pipelines.loaders.pipeline", "unbuildable_reason": "pipelines.loaders.pipeline"}

__all__ = list(_HOMES)


def __getattr__(name: str):
    if name not in _HOMES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(import_module(_HOMES[name]), name)
