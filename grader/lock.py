"""One `grade` run per --out folder: two runs writing the same results log and reports would interleave them."""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from grader.errors import ConfigError

LOCK_FILE = ".grade.lock"


@contextmanager
def exclusive(out: Path) -> Iterator[None]:
    """Hold `out` for this process until the block ends; refuse at once (exit 2) if another run holds it.

    An flock, not a file that exists: the kernel drops it when the holder dies, however it dies,
    so a killed run never leaves the folder locked. The file keeps the holder's pid for the message.
    """
    out.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(out / LOCK_FILE, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    try:
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(descriptor, 32, 0).decode("ascii", "replace").strip() or "unknown"
            raise ConfigError(f"{out} is in use by another grade run (pid {holder}); "
                              "wait for it or use another --out") from None
        os.ftruncate(descriptor, 0)
        os.pwrite(descriptor, f"{os.getpid()}\n".encode(), 0)
        yield
    finally:
        os.close(descriptor)  # closing the last descriptor of the open file releases the lock
