"""Helpers shared by several test files: running the benchmarks as a user does, waiting on processes, and
reading a loader's epochs as arrays."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parents[1]


@contextmanager
def parent_to_kill(script: str, timeout_s: float) -> Iterator[str]:
    """A Python process running ``script`` (this checkout importable), for a test of what outlives a ``kill -9``:
    yields the first line it prints (``""`` if none within ``timeout_s``: a read that cannot block the run), and
    SIGKILLs it on leaving -- no ``__exit__``, no ``atexit``."""
    parent = subprocess.Popen([sys.executable, "-c", script], cwd=ROOT, stdout=subprocess.PIPE, text=True,
                              env={**os.environ, "PYTHONPATH": str(ROOT)})
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.append(parent.stdout.readline()), daemon=True)
    try:
        reader.start()
        reader.join(timeout_s)
        yield lines[0] if lines else ""
    finally:
        parent.send_signal(signal.SIGKILL)
        parent.wait()
        reader.join(5)  # the kill closed the pipe: a read still waiting returns
        parent.stdout.close()


def bench_run(tmp_path: Path, *options: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """``pytest benchmarks`` with ``options``, as a user runs it; generated datasets would go to ``tmp_path``.
    ``env``: the child's environment in place of this process's."""
    env = {**(os.environ if env is None else env), "LOADERBENCH_DATA": str(tmp_path / "data")}
    command = [sys.executable, "-m", "pytest", "benchmarks", "-p", "no:cacheprovider", "-q", *options]
    return subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)


def bench_in_process(pytester, monkeypatch, tmp_path: Path, *options: str) -> subprocess.CompletedProcess:
    """:func:`bench_run` in this process (``pytester``), for a run that stops at start or only collects: the same
    conftests, options and checks as the child's, without the child's own TensorFlow import (seconds each on 2
    cores). Its exit status, standard output and standard error, as :func:`bench_run` returns them."""
    monkeypatch.setenv("LOADERBENCH_DATA", str(tmp_path / "data"))
    monkeypatch.chdir(ROOT)  # node ids and paths as the child prints them
    done = pytester.runpytest_inprocess("benchmarks", "-p", "no:cacheprovider", "-q", *options)
    return subprocess.CompletedProcess(["pytest", "benchmarks", *options], int(done.ret), done.stdout.str() + "\n",
                                       done.stderr.str() + "\n")


def assert_refused_at_start(done: subprocess.CompletedProcess, tmp_path: Path, line: str) -> None:
    """Exit 4 (a usage error), the one line naming the option, nothing collected and no dataset generated."""
    assert done.returncode == 4, done.stdout[-2000:] + done.stderr[-2000:]
    assert f"Exit: {line}\n" in done.stderr, done.stderr[-2000:]
    assert "collected" not in done.stdout and "passed" not in done.stdout
    assert not (tmp_path / "data").exists()


def gone(pids) -> bool:
    """None of ``pids`` is a live process (a zombie left to a non-reaping init counts as gone)."""
    for pid in pids:
        try:
            if psutil.Process(pid).status() != psutil.STATUS_ZOMBIE:
                return False
        except psutil.NoSuchProcess:
            pass
    return True


def wait_until(condition, timeout_s: float, what: str) -> None:
    """Poll ``condition`` until it holds; an AssertionError naming ``what`` after ``timeout_s`` (a hang guard)."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {timeout_s:g} s")
        time.sleep(0.05)


def epoch_arrays(loader, index, contract, epochs=1):
    """All images and labels of each epoch of ``loader``'s pipeline, as NumPy arrays."""
    import numpy as np

    from pipelines.loaders import open_pipeline

    out = []
    with open_pipeline(loader, index, contract) as pipeline:
        for _ in range(epochs):
            batches = [(np.asarray(x), np.asarray(y)) for x, y in pipeline.epoch()]
            out.append((np.concatenate([b[0] for b in batches]), np.concatenate([b[1] for b in batches])))
    return out


def needs_loader(name: str):
    """A mark for tests of an optional loader: skipped, with its install hint as the reason, where its package is
    not installed or fails to import.

    Decided as each test is set up (``pytest_runtest_setup`` in tests/conftest.py), not at collection:
    collecting must work whatever is installed, and the check imports the package (DALI's import is heavy) only
    where a test of it is going to run.
    """
    import pytest

    return pytest.mark.needs_loader(name)


def requiring(monkeypatch, loader: str, package: str) -> None:
    """Declare, for one test, that ``loader`` needs ``package`` in place of its own: a package that is missing or
    broken for real (a parent package absent, an ``__init__`` that raises), where the installed one cannot be
    hidden -- its answer is cached once a process (:func:`pipelines.optional.unusable`) and its modules imported."""
    from dataclasses import replace

    from pipelines.loaders.registry import LOADER_SPECS

    monkeypatch.setitem(LOADER_SPECS, loader, replace(LOADER_SPECS[loader], requires=package))


def broken_package(root: Path, name: str, raises: str) -> str:
    """A package ``name`` under ``root`` that is installed (found on ``sys.path`` once ``root`` is on it) but whose
    ``__init__`` raises ``raises`` (Python source: ``ImportError("libfoo.so: ...")``), as a package with a missing
    shared library does; returns ``name``."""
    (root / name).mkdir(parents=True)
    (root / name / "__init__.py").write_text(f"raise {raises}\n")
    return name
