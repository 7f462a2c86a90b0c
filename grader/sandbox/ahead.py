"""A fork server spawned before the grader's own start-up, for the first pipeline that needs one like it.

A server's start (a new interpreter that imports numpy and the child's modules) costs about what
the grader's own imports cost. The commands that run one notebook (`grade-check`, `grade` given
notebook files) spawn one first thing, so both start at once on two cores. The first `Pipeline`
that spawns a server with the same mounts (the folders hidden from it, the scratch size) takes it
instead; a server with other mounts is never handed out. One that nobody took is closed at exit.
"""

from __future__ import annotations

import atexit

from grader.sandbox.client import SCRATCH_BYTES, ForkServer

_waiting: list[tuple[tuple[tuple[str, ...], int], ForkServer]] = []


def spawn(hidden: tuple[str, ...] = (), scratch_bytes: int = SCRATCH_BYTES) -> None:
    """Spawn a server now for a pipeline that will ask for these mounts; a failure here is left to that pipeline."""
    try:
        server = ForkServer(hidden, scratch_bytes)
    except Exception:  # the pipeline spawns its own and reports what fails then
        return
    if not _waiting:
        atexit.register(_close_unclaimed)
    _waiting.append(((tuple(hidden), scratch_bytes), server))


def claim(hidden: tuple[str, ...], scratch_bytes: int) -> ForkServer | None:
    """The server spawned ahead with exactly these mounts, taken (at most once), or None."""
    for position, (mounts, server) in enumerate(_waiting):
        if mounts == (tuple(hidden), scratch_bytes):
            del _waiting[position]
            return server
    return None


def _close_unclaimed() -> None:
    while _waiting:
        _waiting.pop()[1].close()
