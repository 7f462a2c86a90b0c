"""Writing report files atomically: a crash or Ctrl-C never leaves a half-written file."""

from __future__ import annotations

import contextlib
import os
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO


def write_atomically(path: Path, text: str | bytes, shared: bool = False) -> None:
    """Write `text` (or bytes) to a temporary file beside `path`, flush it to disk, then rename it over `path`.

    The file is private (0600) like every report, unless `shared`: a file meant to be handed out (a
    student's stub) gets the modes the user's umask gives a new file.
    """
    with atomic_stream(path, binary=isinstance(text, bytes), shared=shared) as stream:
        stream.write(text)


@contextlib.contextmanager
def atomic_stream(path: Path, binary: bool = False, shared: bool = False) -> Iterator[IO]:
    """A stream whose content replaces `path` only once the block completes.

    For reports written piece by piece (a large class), so they need not be held in memory whole.
    Text is cleaned where it enters the grader (grader.text); should any unencodable character
    still arrive, it is written escaped rather than costing the whole file. A device or a pipe
    (`--json /dev/null`, `/dev/stdout`, a FIFO) is written in place: renaming a file over it would
    replace the device itself, for every program on the machine when run as root.
    """
    try:
        mode = os.stat(path).st_mode
    except OSError:
        mode = stat.S_IFREG  # absent (or unreachable: the usual path reports why)
    if not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)):
        with open(path, "wb") if binary else open(path, "w", encoding="utf-8", newline="") as stream:
            yield stream
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        if shared:
            os.fchmod(handle, 0o666 & ~_umask())
        text = {} if binary else {"encoding": "utf-8", "errors": "backslashreplace", "newline": ""}
        with os.fdopen(handle, "wb" if binary else "w", **text) as stream:
            yield stream
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(temporary, path)
    except BaseException:
        try:
            os.unlink(temporary)
        except FileNotFoundError:
            pass
        raise


def _umask() -> int:
    current = os.umask(0o022)
    os.umask(current)
    return current
