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
    so a killed run never leaves the folder locked. The file keeps the holder's pid for the
    message, and is removed when the run ends, leaving the folder as a run without a lock would.
    """
    out.mkdir(parents=True, exist_ok=True)
    path = out / LOCK_FILE
    descriptor = _locked(path)
    try:
        os.ftruncate(descriptor, 0)
        os.pwrite(descriptor, f"{os.getpid()}\n".encode(), 0)
        yield
    finally:
        path.unlink(missing_ok=True)  # before the lock goes: a run that opened this file then finds it replaced
        os.close(descriptor)


def _locked(path: Path) -> int:
    """A descriptor of the lock file at `path`, locked by us; ConfigError if another run holds it."""
    while True:
        descriptor = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(descriptor, 32, 0).decode("ascii", "replace").strip() or "unknown"
            os.close(descriptor)
            raise ConfigError(f"{path.parent} is in use by another grade run (pid {holder}); "
                              "wait for it or use another --out") from None
        try:
            current = os.stat(path)
        except FileNotFoundError:
            current = None
        opened = os.fstat(descriptor)
        if current is not None and (current.st_dev, current.st_ino) == (opened.st_dev, opened.st_ino):
            return descriptor
        os.close(descriptor)  # the run that held it removed the file while we opened it: lock the new one
