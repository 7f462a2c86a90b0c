"""The grader adopts what sandboxed code leaves behind when a fork server dies, and sweeps it."""

from __future__ import annotations

import os
import sys
import time

import pytest

from grader.sandbox.pipeline import Pipeline


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", "rb") as stream:
            return stream.read().rsplit(b")", 1)[1].split()[0] != b"Z"
    except OSError:
        return False


def _parent(pid: int) -> int:
    with open(f"/proc/{pid}/stat", "rb") as stream:
        return int(stream.read().rsplit(b")", 1)[1].split()[1])


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="subreapers and /proc are Linux's")
def test_orphans_in_another_session_are_swept_and_our_own_children_are_not():
    pipeline = Pipeline([], 1)  # makes this process the adopter of orphaned descendants
    read_end, write_end = os.pipe()
    child = os.fork()
    if child == 0:  # like a sandboxed child: a session of its own, a sleeper left behind, then gone
        os.setsid()
        sleeper = os.fork()
        if sleeper == 0:
            time.sleep(60)
            os._exit(0)
        os.write(write_end, str(sleeper).encode())
        os._exit(0)
    os.close(write_end)
    orphan = int(os.read(read_end, 32))
    os.close(read_end)
    os.waitpid(child, 0)
    ours = os.fork()  # a child of our own session, which the sweep must leave alone
    if ours == 0:
        time.sleep(60)
        os._exit(0)
    try:
        deadline = time.monotonic() + 5
        while _parent(orphan) != os.getpid() and time.monotonic() < deadline:
            time.sleep(0.01)
        assert _alive(orphan) and _parent(orphan) == os.getpid()  # adopted by us, not by init
        pipeline.close()
        assert not _alive(orphan)
        assert _alive(ours)
    finally:
        os.kill(ours, 9)
        os.waitpid(ours, 0)
