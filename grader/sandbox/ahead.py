"""A fork server spawned before the grader's own start-up, for the first pipeline that needs one like it.

A server's start (a new interpreter that imports numpy and the child's modules) costs about what
the grader's own imports cost. The commands that run one notebook (`grade-check`, `grade` given
notebook files) spawn one first thing, so both start at once on two cores; a class that will run
its notebooks spawns its servers before it routes them (grader/app/classroom.py). The first `Pipeline`
that spawns a server with the same mounts (the folders hidden from it, the scratch size) takes it
instead; a server with other mounts is never handed out. The command closes the one nobody took when it
ends (`close_unclaimed`), so a process that runs several commands (a test, a notebook) never hands one
command's server to the next.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from grader.sandbox.client import ForkServer

_waiting: list[tuple[tuple[tuple[str, ...], int], ForkServer]] = []


def spawn(hidden: tuple[str, ...] = (), scratch_bytes: int | None = None, count: int = 1) -> None:
    """Spawn servers now for a pipeline that will ask for these mounts, until `count` with them wait (one may have
    been spawned by grader/entry.py already); a failure here is left to that pipeline. `scratch_bytes`: the default
    scratch size (client.SCRATCH_BYTES) when None.

    The client is imported here: a command that spawns nothing (a re-grade served from the cache) loads none of
    the sandbox, only this module, to close what it might have spawned.
    """
    from grader.sandbox import client

    scratch_bytes = client.SCRATCH_BYTES if scratch_bytes is None else scratch_bytes
    mounts = (tuple(hidden), scratch_bytes)
    for _ in range(count - sum(waiting == mounts for waiting, _ in _waiting)):
        try:
            server = client.ForkServer(hidden, scratch_bytes)
        except Exception:  # the pipeline spawns its own and reports what fails then
            return
        _waiting.append((mounts, server))


def claim(hidden: tuple[str, ...], scratch_bytes: int) -> ForkServer | None:
    """The server spawned ahead with exactly these mounts, taken (at most once), or None."""
    for position, (mounts, server) in enumerate(_waiting):
        if mounts == (tuple(hidden), scratch_bytes):
            del _waiting[position]
            return server
    return None


def close_unclaimed() -> None:
    """Close every server spawned ahead that no pipeline took."""
    while _waiting:
        _waiting.pop()[1].close()
