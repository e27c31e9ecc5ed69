"""Where a benchmark ran: device, cores, memory and library versions, for ``extra_info`` and the summary."""

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
        "cpu_model": cpu_model(),
        "cpu_count": os.cpu_count(),
        "ram_bytes": psutil.virtual_memory().total,
        "tensorflow": tf.__version__,
        "keras": keras.__version__,
        "python": platform.python_version(),
    }


def cpu_model() -> str:
    """The CPU's model name (``/proc/cpuinfo`` on Linux; the platform's word elsewhere): part of what makes a
    baseline comparable."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as info:
            for line in info:
                if line.startswith("model name"):
                    return line.partition(":")[2].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def available_cores() -> int:
    """CPUs this process may run on: its affinity mask where the platform has one (``taskset``, a container's
    CPU set, the study's pinned children), which ``os.cpu_count()`` ignores."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1

