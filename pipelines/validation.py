"""The one check every settings dataclass runs in ``__post_init__``: a bad value is a ``ValueError`` naming
the option, raised before anything is measured."""

from __future__ import annotations


def require(condition: bool, message: str) -> None:
    if not condition:
        raise ValueError(message)
