"""Pipeline builders, one module per loader, and the one call that builds any of them.

``open_pipeline(loader, index, contract)`` is the single entry point: it builds the loader's pipeline under the
shared :class:`~pipelines.loaders.contract.Contract`, gives it a temporary cache folder when it needs one, and removes
that folder when the ``with`` block ends.
"""

from pipelines.loaders.pipeline import Pipeline, open_pipeline, unbuildable_reason
from pipelines.loaders.registry import LOADERS

__all__ = ["LOADERS", "Pipeline", "open_pipeline", "unbuildable_reason"]
