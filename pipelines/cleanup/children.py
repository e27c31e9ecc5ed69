"""How the suite starts a Python child of its own (the tf.data service's processes, the study's pinned cores):
this interpreter, this checkout of :mod:`pipelines` importable whatever the working folder, TensorFlow quiet;
and how no child outlives the run: a child of the suite's own watches its parent (:func:`exit_with_parent`), a
child whose code is not the suite's (the A/B command's pytest runs) is started to die with this process; and how
a child's report lines are read without waiting on it for ever (:class:`LineReader`)."""

from __future__ import annotations

import os
import selectors
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import IO


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


#: Run by the child's interpreter before the command it is given: asks Linux to SIGKILL it when its parent ends
#: (``PR_SET_PDEATHSIG``, which an ``exec`` keeps), exits if that parent is already gone, then becomes the command.
_DIE_WITH_PARENT = """\
import ctypes, os, signal, sys
try:
    ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # 1: PR_SET_PDEATHSIG
except (AttributeError, OSError, TypeError):
    pass  # not Linux: no such call
if os.getppid() != int(sys.argv[1]):
    sys.exit(1)
os.execvp(sys.argv[2], sys.argv[2:])
"""


def dying_with_parent(command: Sequence[str]) -> list[str]:
    """``command`` (a Python program: its first item an interpreter) started so that it is killed as soon as
    this process ends, however it ends (``kill -9`` included), on Linux.

    For a child that cannot watch its parent itself because its code is not this checkout's (another git
    revision's pytest run); the suite's own children watch their parent's pid instead. The signal is set by the
    child's own interpreter just before it ``exec``s the command, not by a ``preexec_fn`` (unsafe in a
    multi-threaded parent). Linux sends it when the *thread* that started the child ends: start it from a
    thread that waits for it (``subprocess.run``).
    """
    return [command[0], "-c", _DIE_WITH_PARENT, str(os.getpid()), *command]


def exit_with_parent(parent_pid: int, poll_s: float = 0.5) -> None:
    """Worker initialiser: exit when the process that started this worker is gone.

    A pool's workers wait for work on a queue; when their parent is killed (``kill -9``, an OOM kill, a closed
    terminal) nothing tells them, and they stay behind idle. A daemon thread notices that the parent changed
    (the orphan is re-parented) and ends the worker.
    """
    import threading
    import time

    def watch() -> None:
        while os.getppid() == parent_pid:
            time.sleep(poll_s)
        os._exit(1)

    threading.Thread(target=watch, name="exit-with-parent", daemon=True).start()


class LineReader:
    """A child's stdout read a line at a time, each wait bounded: a child that hangs cannot hang its parent.

    Attributes:
        closed: the child closed its stdout (it is gone or going); no line will come.
    """

    def __init__(self, stream: IO[bytes]) -> None:
        self.stream = stream
        self.closed = False
        self._buffer = b""
        self._selector = selectors.DefaultSelector()
        self._selector.register(stream, selectors.EVENT_READ)

    def line(self, timeout_s: float) -> str | None:
        """The next line, or ``None`` when none came within ``timeout_s`` or the stream closed (:attr:`closed`)."""
        deadline = time.monotonic() + timeout_s
        while b"\n" not in self._buffer:
            left = deadline - time.monotonic()
            if self.closed or left <= 0 or not self._selector.select(left):
                return None
            chunk = os.read(self.stream.fileno(), 65536)
            if not chunk:
                self.closed = True
                return None
            self._buffer += chunk
        line, self._buffer = self._buffer.split(b"\n", 1)
        return line.decode(errors="replace")

    def close(self) -> None:
        self._selector.close()
