"""Running a piece of a test in a forked child, as a fork server runs its children, and reading back what it returns."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from typing import Any


def in_child(action: Callable[[], Any]) -> Any:
    """`action()` in a forked child of this process; its value, sent back as JSON, or None if it sent nothing."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            view = memoryview(json.dumps(action()).encode())
            while view:
                view = view[os.write(write_end, view):]
        finally:
            os._exit(0)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as stream:
        data = stream.read()
    os.waitpid(pid, 0)
    return json.loads(data) if data else None
