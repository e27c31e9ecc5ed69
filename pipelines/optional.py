"""Optional packages (the project's extras: Grain, NVIDIA DALI, scikit-image): whether one can be used on this
installation and, where it cannot, why, in words that a skip reason or an error ends with what to install.

``importlib.util.find_spec`` is not enough on its own: for a dotted name (``nvidia.dali``) it imports the parent
and raises ``ModuleNotFoundError`` where the parent is absent, instead of answering None; and a package that is
installed can still fail on import (a shared library missing: ImportError or OSError; a version clash: anything
at all). :func:`unusable` turns each of those into a reason, so that what needs the package is skipped with it
instead of erroring.
"""

from __future__ import annotations

import functools
import importlib
import importlib.util


def install_hint(extra: str) -> str:
    """How to bring in the project extra ``extra``: ``pip install '.[dali]' (or tox -e bench-dali)``."""
    return f"pip install '.[{extra}]' (or tox -e bench-{extra})"


def _one_line(error: BaseException) -> str:
    """``error`` as its type and the first line of its text (``ImportError: libfoo.so: cannot open ...``)."""
    text = str(error).strip().splitlines()
    return f"{type(error).__name__}: {text[0]}" if text else type(error).__name__


def _is_parent(name: str | None, package: str) -> bool:
    """``name`` is ``package`` or a package above it (``nvidia`` of ``nvidia.dali``)."""
    return name is not None and (package == name or package.startswith(f"{name}."))


@functools.cache
def unusable(package: str, *, load: bool = True) -> str | None:
    """Why ``package`` (a dotted name too) cannot be used here: ``"not installed"`` (its parent package missing
    included) or ``"installed but fails to import (ImportError: ...)"``; None where it can.

    ``load=False`` only looks for the package without importing it, for callers that read files the package
    ships or that decide at collection time (importing DALI is heavy); ``load=True`` imports it too, once a
    process, which is what the caller would do next anyway. The answer is cached per package: installing a
    package into a running process is not a case this suite needs to follow.
    """
    try:
        if importlib.util.find_spec(package) is None:
            return "not installed"
    except ModuleNotFoundError as error:
        if _is_parent(error.name, package):  # find_spec("nvidia.dali") without nvidia: raised, not None
            return "not installed"
        return f"installed but fails to import ({_one_line(error)})"  # a parent needs what is missing
    except Exception as error:  # noqa: BLE001 -- a parent package that fails on import: any exception at all
        return f"installed but fails to import ({_one_line(error)})"
    if not load:
        return None
    try:
        importlib.import_module(package)
    except Exception as error:  # noqa: BLE001 -- a missing shared library (ImportError, OSError), a clash, ...
        return f"installed but fails to import ({_one_line(error)})"
    return None
