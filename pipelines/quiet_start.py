"""TensorFlow imported without its start-up lines, once a command's arguments are checked.

TensorFlow 2.2x prints its start-up lines (absl's "All log messages before absl::InitializeLog()", oneDNN's
notice, "Could not find cuda drivers", a failed ``cuInit``) before ``TF_CPP_MIN_LOG_LEVEL`` is read, so the
variable alone cannot stop them. :func:`import_tensorflow` sets that variable to ``2`` where it is unset and
imports TensorFlow (and initialises its devices, where ``cuInit`` speaks) with the process's standard error
sent to a temporary file, which is shown if the import fails. A user who asks for TensorFlow's lines
(``TF_CPP_MIN_LOG_LEVEL=0`` or ``1``, or ``LOADERBENCH_TF_LOGS=1``) gets every line it prints.
"""

from __future__ import annotations

import os
import sys
import tempfile
from types import ModuleType

#: Set to any value to see TensorFlow's start-up lines (as does setting TF_CPP_MIN_LOG_LEVEL yourself).
SHOW_VARIABLE = "LOADERBENCH_TF_LOGS"


def import_tensorflow() -> ModuleType:
    """``tensorflow``, imported quietly the first time (see the module's docstring); the module thereafter."""
    if "tensorflow" in sys.modules:
        return sys.modules["tensorflow"]
    level = os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    if level in ("0", "1") or os.environ.get(SHOW_VARIABLE):
        import tensorflow

        return tensorflow
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile(mode="w+b") as said:
        os.dup2(said.fileno(), 2)
        try:
            import tensorflow

            tensorflow.config.list_physical_devices()  # where CUDA's initialisation speaks
        except BaseException:
            os.dup2(saved, 2)
            said.seek(0)
            sys.stderr.write(said.read().decode(errors="replace"))
            raise
        finally:
            os.dup2(saved, 2)
            os.close(saved)
    return tensorflow
