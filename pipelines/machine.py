"""Where a benchmark ran: device, cores, memory and library versions, for ``extra_info`` and the README."""

from __future__ import annotations

import os
import platform
from functools import cache

import psutil


@cache
def machine_info() -> dict[str, object]:
    import keras
    import tensorflow as tf

    gpus = tf.config.list_physical_devices("GPU")
    if gpus:
        names = [tf.config.experimental.get_device_details(g).get("device_name", g.name) for g in gpus]
        device = "GPU: " + ", ".join(names)
    else:
        device = f"CPU: {platform.processor() or platform.machine()}"
    return {
        "device": device,
        "cpu_count": os.cpu_count(),
        "ram_bytes": psutil.virtual_memory().total,
        "tensorflow": tf.__version__,
        "keras": keras.__version__,
        "python": platform.python_version(),
    }
