"""The grader's side of one fork server: starting it clean, and its pipes.

A server is a new `sys.executable` process image with a scrubbed environment, so it never
holds what the grader holds (the reference, hidden expected values), whenever it starts.
`pipeline` keeps several of them busy.
"""

from __future__ import annotations

import functools
import importlib.util
import json
import os
import select
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING

from grader import blas_threads
from grader.errors import InternalError
from grader.sandbox import frames, wire

if TYPE_CHECKING:
    from grader.sandbox.layers import Layer

# Variables that select a working BLAS kernel on some CPUs; harmless to pass on.
_PASSED_THROUGH = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE", "SYSTEMROOT", "TZ")
PACKAGE_PARENT = str(Path(__file__).resolve().parents[2])
# Slack on top of a job's own time limit before the server itself is presumed stuck.
SERVER_GRACE = 10.0
# Limits of the probe child that reports the layers (it runs no student code).
_PROBE_LIMITS = wire.Limits(timeout=10.0, statement=1.0, call=1.0, memory_mb=1024, output_bytes=1 << 16)
# The children's scratch tmpfs holds their files and captured output: this much on top of the output caps.
SCRATCH_BYTES = 64 * 1024 * 1024


def scratch_bytes(output_bytes: int) -> int:
    """The scratch tmpfs of a run whose children may print `output_bytes` to each of stdout and stderr."""
    return SCRATCH_BYTES + 2 * output_bytes


@functools.cache
def readable_paths() -> tuple[str, ...]:
    """Folders the child must read: the Python installation, numpy and the grader package (not its repository).

    Worked out here, in the grader, and sent to each server's launcher: the launcher starts without `site`, so it
    could not find numpy itself, and the server and its children use the very folders its mounts left visible.
    """
    numpy = importlib.util.find_spec("numpy")
    package = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    paths = {sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix, package}
    if numpy is not None and numpy.origin:
        paths.add(os.path.dirname(numpy.origin))
    return tuple(sorted(os.path.realpath(path) for path in paths))


def server_environment(home: str) -> dict[str, str]:
    """A scrubbed environment: nothing of the grader's (tokens, secrets) reaches student code."""
    env = {
        "PATH": "/usr/bin:/bin",
        "LANG": "C.UTF-8",
        "LC_ALL": "C.UTF-8",
        "HOME": home,
        "TMPDIR": home,
        "PYTHONDONTWRITEBYTECODE": "1",
        "PYTHONHASHSEED": "0",
        "MPLBACKEND": "Agg",
    }
    # One thread for numpy's BLAS: a 1 GiB address-space limit stays workable on any machine.
    env.update({name: "1" for name in blas_threads.VARIABLES})
    env.update({name: os.environ[name] for name in _PASSED_THROUGH if name in os.environ})
    return env


class ForkServer:
    """One fork server process and the pipes to it, started in two steps.

    Spawning it sends what to hide and the probe's limits: its interpreter then starts, imports
    what it needs and runs its probe child while the grader is still building the cases. `start`
    sends the cases; `ready` waits for the probe child's report of the layers (`layers`).
    """

    def __init__(self, hidden: tuple[str, ...] = (), scratch_bytes: int = SCRATCH_BYTES) -> None:
        self._home = tempfile.mkdtemp(prefix="backprop-grader-home-")
        # The launcher needs the standard library and this package only (found from `cwd`): without `site` its
        # interpreter starts on about 8 ms less CPU (an editable install's path hook alone imports pathlib and re).
        self._process = subprocess.Popen(
            [sys.executable, "-S", "-s", "-E", "-m", "grader.sandbox.launcher"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            cwd=PACKAGE_PARENT,
            env=server_environment(self._home),
            close_fds=True,
            # A session of its own: with the kernel's autogroups (on by default in most distributions) each session is
            # scheduled as a group, and the grader, which paces every server, then has its group to itself.
            start_new_session=True,
        )
        _LIVE.add(self._process.pid)
        self.layers: tuple[Layer, ...] = ()
        self._answered = False
        # The launcher takes the first message (what to hide) and keeps it; the server gets the others.
        self._send(wire.Mounts(hidden=list(hidden), scratch_bytes=scratch_bytes, readable=list(readable_paths())))
        self._send(wire.ProbeStart(limits=_PROBE_LIMITS))

    def start(self, cases: list[wire.WireCase], stub: wire.Stub | None = None) -> None:
        """Send the cases (and the stub's cells): the server decodes them once its probe child has reported."""
        self._send(wire.ServerStart(cases=cases, stub=stub))

    def ready(self) -> tuple[Layer, ...]:
        """Wait for the probe child's report of the layers in effect (read once: later calls return it again)."""
        if self._answered:
            return self.layers
        try:
            answer = self._read(time.monotonic() + _PROBE_LIMITS["timeout"] + SERVER_GRACE)
            report = answer["layers"]
        except (OSError, frames.ProtocolError, KeyError, TypeError, ValueError) as error:
            self.close()
            raise InternalError(f"the sandbox could not start: no answer from its fork server ({error})") from None
        if not isinstance(report, list):
            self.close()
            raise InternalError(f"the sandbox could not start: its probe child failed: {answer.get('failure')}")
        # Imported here: `grade-check` spawns its server before anything else, and ctypes (the layers') would
        # delay that spawn, on the critical path, by more than it costs now while the server starts.
        from grader.sandbox.layers import Layer

        self.layers = tuple(Layer(str(e["name"]), bool(e["active"]), str(e["detail"])) for e in report)
        self._answered = True
        return self.layers

    def _send(self, message: dict) -> None:
        try:
            frames.write(self._process.stdin, message)
        except (OSError, ValueError) as error:
            self.close()
            raise InternalError(f"the sandbox could not start: no answer from its fork server ({error})") from None

    def _read(self, deadline: float) -> wire.ProbeAnswer:
        """One reply, read blocking (the probe's report at start; jobs go through `pipeline`)."""
        fd = self._process.stdout.fileno()
        buffer = bytearray()
        needed = None
        while needed is None or len(buffer) < needed:
            remaining = deadline - time.monotonic()
            ready = select.select([fd], [], [], max(remaining, 0))[0] if remaining > 0 else []
            if not ready:
                raise frames.ProtocolError("no answer within the time limit")
            chunk = os.read(fd, 1 << 20)
            if not chunk:
                raise frames.ProtocolError("stream closed")
            buffer += chunk
            if needed is None and len(buffer) >= frames.HEADER.size:
                needed = frames.HEADER.size + frames.HEADER.unpack(buffer[:frames.HEADER.size])[0]
        return json.loads(bytes(buffer[frames.HEADER.size:needed]))

    @property
    def pipes(self) -> tuple[int, int]:
        """(request fd, reply fd), for a caller that keeps several servers busy at once (`pipeline`)."""
        return self._process.stdin.fileno(), self._process.stdout.fileno()

    def close(self) -> None:
        if self._process.poll() is None:
            try:
                self._process.stdin.close()
                self._process.wait(timeout=2)
            except (OSError, subprocess.TimeoutExpired):
                self._process.kill()
                self._process.wait()
        for stream in (self._process.stdin, self._process.stdout):
            try:
                stream.close()
            except OSError:
                pass
        _LIVE.discard(self._process.pid)
        _remove(self._home)


_LIVE: set[int] = set()
"""The launchers of this process's fork servers not closed yet: children in sessions of their own that are ours."""


def live_servers() -> frozenset[int]:
    """The process ids of this process's fork servers (their launchers) not closed yet."""
    return frozenset(_LIVE)


def _remove(path: str) -> None:
    shutil.rmtree(path, ignore_errors=True)
