"""Loaders declared outside this package: a team's own pipeline, timed beside ours.

A package declares its loader as a :class:`~pipelines.loaders.spec.LoaderSpec` and registers it in its
``pyproject.toml`` under the entry-point group :data:`GROUP`::

    [project.entry-points."loaderbench.loaders"]
    example-augmented = "own_pipeline.loader:LOADER"

or a run names it without installing anything: ``loaderbench bench --loader-spec own_pipeline.loader:LOADER``
(the environment variable :data:`ENVIRONMENT`, comma-separated). A declaration that cannot be imported, is not a
``LoaderSpec``, or takes a name already taken is left out with a one-line reason (:data:`REFUSED`, printed in
the run's header), and every other loader runs.
"""

from __future__ import annotations

import os
import pkgutil
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from importlib.metadata import entry_points
from typing import Any

from pipelines.loaders.spec import LoaderSpec
from pipelines.options import Option
from pipelines.values import names

#: The entry-point group a package registers its loaders in.
GROUP = "loaderbench.loaders"
#: Declarations named for one run: ``module:attribute[,module:attribute...]``.
ENVIRONMENT = "LOADERBENCH_LOADERS"
#: The same, on ``loaderbench``'s command line.
LOADER_SPEC = Option("--loader-spec", f"time the loaders declared as these LoaderSpec attributes beside ours (also "
                     f"${ENVIRONMENT})", parse=names, metavar="MODULE:ATTRIBUTE,...", default=(),
                     default_text="the installed packages' entry points")


@dataclass(frozen=True)
class Refused:
    """A declaration left out (``source``: the entry point or ``module:attribute``) and why."""

    source: str
    reason: str

    def line(self) -> str:
        return f"loader {self.source} left out: {self.reason}"


def load_attribute(target: str) -> Any:
    """``module:attribute``, imported (the form an entry point's value takes)."""
    module, _, attribute = target.partition(":")
    if not module or not attribute:
        raise ValueError(f"{target!r} is not module:attribute")
    return pkgutil.resolve_name(target)


def _sources() -> Iterator[tuple[str, Callable[[], Any]]]:
    for point in entry_points(group=GROUP):
        yield f"{point.name} = {point.value} (entry point of {point.dist.name if point.dist else '?'})", point.load
    for target in filter(None, (t.strip() for t in os.environ.get(ENVIRONMENT, "").split(","))):
        yield target, lambda target=target: load_attribute(target)


def declared_loaders(taken: Mapping[str, LoaderSpec]) -> tuple[dict[str, LoaderSpec], list[Refused]]:
    """Every declared loader whose name is not in ``taken``, and those refused."""
    found: dict[str, LoaderSpec] = {}
    refused: list[Refused] = []
    for source, load in _sources():
        try:
            spec = load()
        except Exception as error:  # anything its import raises: a user's module, a one-line reason
            refused.append(Refused(source, f"cannot be imported: {type(error).__name__}: {error}"))
            continue
        if not isinstance(spec, LoaderSpec):
            refused.append(Refused(source, f"is a {type(spec).__name__}, not a pipelines.loaders.spec.LoaderSpec"))
        elif spec.name in taken or spec.name in found:
            refused.append(Refused(source, f"the name {spec.name!r} is taken: give the loader another"))
        else:
            found[spec.name] = spec
    return found, refused
