"""Resource limits applied in the forked child before any student code runs."""

from __future__ import annotations

import functools
import math
import resource
import signal

OPEN_FILES = 256

Planned = tuple[tuple[int, tuple[int, int]], ...]


def planned(limits: dict) -> Planned:
    """Memory, CPU time, file size, open files and core dumps as (resource, (soft, hard)) pairs, each within the
    inherited hard limit.

    Worked out in the fork server, once for a run's limits: a child that read its hard limits and did
    this arithmetic itself ran Python the server had run already, on pages it then copied (about 0.1 ms
    a child). The server's hard limits are fixed for its life: nothing lowers them in it.
    """
    return _planned(int(limits["memory_mb"]), float(limits["timeout"]), int(limits["output_bytes"]))


@functools.lru_cache(maxsize=8)
def _planned(memory_mb: int, timeout: float, output_bytes: int) -> Planned:
    caps = ((resource.RLIMIT_AS, memory_mb * 1024 * 1024), (resource.RLIMIT_CPU, math.ceil(timeout) + 1),
            (resource.RLIMIT_FSIZE, output_bytes), (resource.RLIMIT_NOFILE, OPEN_FILES), (resource.RLIMIT_CORE, 0))
    return tuple((kind, (_within_hard(kind, value),) * 2) for kind, value in caps)


def apply_in_child(limits: Planned) -> None:
    """Cap memory, CPU time, file sizes, open files and core dumps of this process (`planned` before the fork)."""
    for kind, pair in limits:
        resource.setrlimit(kind, pair)
    # A write past the file-size cap then fails with an error instead of killing the child.
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)


def _within_hard(kind: int, value: int) -> int:
    _, hard = resource.getrlimit(kind)
    return value if hard == resource.RLIM_INFINITY else min(value, hard)
