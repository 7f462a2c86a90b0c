"""Resource limits applied in the forked child before any student code runs."""

from __future__ import annotations

import math
import resource
import signal

OPEN_FILES = 256


def apply_in_child(limits: dict) -> None:
    """Cap memory, CPU time, file sizes, open files and core dumps of this process."""
    memory = int(limits["memory_mb"]) * 1024 * 1024
    cpu = math.ceil(limits["timeout"]) + 1
    _set(resource.RLIMIT_AS, memory)
    _set(resource.RLIMIT_CPU, cpu)
    _set(resource.RLIMIT_FSIZE, int(limits["output_bytes"]))
    _set(resource.RLIMIT_NOFILE, OPEN_FILES)
    _set(resource.RLIMIT_CORE, 0)
    # A write past the file-size cap then fails with an error instead of killing the child.
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)


def _set(kind: int, value: int) -> None:
    _, hard = resource.getrlimit(kind)
    if hard != resource.RLIM_INFINITY:
        value = min(value, hard)
    resource.setrlimit(kind, (value, value))
