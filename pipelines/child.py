"""How the suite starts a Python child of its own (the tf.data service's processes, the study's pinned cores):
this interpreter, this checkout of :mod:`pipelines` importable whatever the working folder, TensorFlow quiet."""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path


def module_command(module: str, args: Sequence[str]) -> list[str]:
    """``python -m module args...`` with the interpreter running now (the virtual environment's)."""
    return [sys.executable, "-m", module, *args]


def child_environment(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """This process's environment, with the package on ``PYTHONPATH`` and TensorFlow's C++ log at warnings."""
    env = dict(os.environ)
    env["TF_CPP_MIN_LOG_LEVEL"] = "2"
    package_root = str(Path(__file__).resolve().parent.parent)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (package_root, env.get("PYTHONPATH")) if p)
    env.update(extra or {})
    return env
