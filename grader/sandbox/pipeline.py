"""Keeping every fork server busy: jobs queued ahead of need, replies taken as they come.

A server runs one child at a time. Were each server driven by a thread of its own, it would idle
while that thread takes the GIL back, judges the reply and writes the next job. Here one thread
multiplexes every server over non-blocking pipes and keeps `depth` jobs in each server's queue,
so the next child is forked while the grader judges the last reply. The servers and
the trust boundary are unchanged: the same `ForkServer` processes, the same messages.
"""

from __future__ import annotations

import itertools
import os
import selectors
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from grader.errors import ConfigError
from grader.sandbox import ahead, client, frames, process, wire
from grader.sandbox.client import SCRATCH_BYTES, SERVER_GRACE, ForkServer
from grader.sandbox.layers import Layer
from grader.sandbox.wire import SandboxReply

_HEADER = frames.HEADER.size
_READ_CHUNK = 1 << 20


@dataclass(frozen=True)
class Finished:
    """A job's reply, with the caller's tag for it."""

    tag: Any
    reply: SandboxReply


@dataclass
class _Pending:
    tag: Any
    job: wire.Job
    started: float = 0.0
    """When the server began it: when it was sent, or when the job before it finished."""


@dataclass
class _Lane:
    """One server, the bytes not yet written to it or read from it, and its queue of jobs."""

    server: ForkServer
    queue: deque = field(default_factory=deque)
    outgoing: bytearray = field(default_factory=bytearray)
    incoming: bytearray = field(default_factory=bytearray)
    frames: list = field(default_factory=list)
    """Messages of the reply being received, until there are `wire.REPLY_FRAMES`."""

    def deadline(self) -> float:
        head = self.queue[0]
        return head.started + head.job["limits"]["timeout"] + SERVER_GRACE


class Pipeline:
    """Up to `size` fork servers, each with up to `depth` jobs in flight; results in completion order."""

    def __init__(self, cases: list[wire.WireCase] | None, size: int, depth: int = 2, hidden: tuple[str, ...] = (),
                 scratch_bytes: int = SCRATCH_BYTES, spawn: int = 0) -> None:
        """`spawn` servers (at most `size`) are started at once, side by side; the others when jobs need them.

        With `cases` None, `load` must give them before the first job: the servers spawned here
        start their interpreters meanwhile.
        """
        if not hasattr(os, "fork"):
            raise ConfigError("grading needs fork server processes, which this platform (Windows) cannot run: "
                              "grade on Linux or macOS; grade-check still works here")
        # The grader holds the reference and hidden expected values: keep its memory out of /proc and
        # ptrace; and adopt what a dying fork server's children leave behind, to sweep it at close.
        process.make_undumpable()
        process.adopt_orphans()
        self._cases = cases
        self._stub: wire.Stub | None = None
        self._hidden = hidden
        self._scratch_bytes = scratch_bytes
        self._size = max(1, size)
        self._depth = max(1, depth)
        self._lanes: list[_Lane] = []
        self._retry: deque[_Pending] = deque()
        self._selector = selectors.DefaultSelector()
        self._ids = itertools.count(1)
        self._spawned: deque[ForkServer] = deque()
        try:
            for _ in range(min(spawn, self._size)):
                self._spawned.append(ahead.claim(hidden, scratch_bytes) or ForkServer(hidden, scratch_bytes))
            if cases is not None:
                self.load(cases)
        except BaseException:
            self.close()
            raise

    def load(self, cases: list[wire.WireCase], stub: wire.Stub | None = None) -> None:
        """The cases every server runs (and the stub's cells), sent now to the servers already spawned."""
        self._cases, self._stub = cases, stub
        for server in self._spawned:
            server.start(cases, stub)

    @property
    def capacity(self) -> int:
        """How many more jobs `submit` accepts now."""
        return self._size * self._depth - self.in_flight

    @property
    def in_flight(self) -> int:
        return sum(len(lane.queue) for lane in self._lanes) + len(self._retry)

    def submit(self, tag: Any, job: wire.Job, fresh: bool = False) -> None:
        """Queue `job` on the least busy server (starting one while fewer than `size` run).

        `fresh`: on a server started for it (a retry after a grader-side failure must not meet
        whatever broke the last one); an idle server is retired to keep `size` of them.
        """
        lane = min(self._lanes, key=lambda each: len(each.queue), default=None)
        if fresh:
            idle = [each for each in self._lanes if not each.queue]
            if idle and len(self._lanes) >= self._size:
                self._retire(idle[0])
            lane = self._start()
        elif lane is None or (lane.queue and len(self._lanes) < self._size):
            lane = self._start()
        pending = _Pending(tag, job)
        if not lane.queue:
            pending.started = time.monotonic()
        lane.queue.append(pending)
        lane.outgoing += wire.encode_job(job, next(self._ids))
        try:
            # Sent now, not at the next `wait`: the child starts while the grader does something else first (before
            # its first wait it loads the catalogue and the oracle, 30 ms for one notebook).
            self._flush(lane)
        except OSError:
            pass  # a broken pipe is found by `wait`, which fails the job against its server
        self._watch(lane)

    def wait(self) -> list[Finished]:
        """Block until at least one job finishes; return every job finished by then."""
        finished: list[Finished] = []
        while not finished and self.in_flight:
            while self._retry:  # jobs that were queued behind a server that died
                pending = self._retry.popleft()
                self.submit(pending.tag, pending.job)
            busy = [lane for lane in self._lanes if lane.queue]
            timeout = max(0.0, min(lane.deadline() for lane in busy) - time.monotonic())
            for key, events in self._selector.select(timeout):
                lane = key.data
                if lane.queue and events & selectors.EVENT_WRITE:
                    self._write(lane, finished)
                if lane.queue and events & selectors.EVENT_READ:
                    self._read(lane, finished)
            now = time.monotonic()
            for lane in [lane for lane in self._lanes if lane.queue and lane.deadline() <= now]:
                self._fail(lane, "no answer within the time limit", finished)
        return finished

    def run(self, job: wire.Job) -> SandboxReply:
        """Run one job and wait for its reply (a self-check; a class goes through `submit`/`wait`)."""
        self.submit(None, job)
        return self.wait()[0].reply

    def layers(self, start: bool = True) -> tuple[Layer, ...] | None:
        """The protection layers in effect, as found by a server's probe child.

        Starts a server if none runs yet, unless `start` is false: then None until one has run.
        """
        if not self._lanes and not start:
            return None
        lane = self._lanes[0] if self._lanes else self._start()
        return lane.server.layers

    def _start(self) -> _Lane:
        if self._spawned:
            server = self._spawned.popleft()
        else:
            server = ahead.claim(self._hidden, self._scratch_bytes) or ForkServer(self._hidden, self._scratch_bytes)
            server.start(self._cases, self._stub)
        server.ready()
        lane = _Lane(server)
        for fd in lane.server.pipes:
            os.set_blocking(fd, False)
        self._lanes.append(lane)
        return lane

    def _watch(self, lane: _Lane) -> None:
        request, reply = lane.server.pipes
        for fd, event in ((request, selectors.EVENT_WRITE), (reply, selectors.EVENT_READ)):
            wanted = bool(lane.outgoing) if event == selectors.EVENT_WRITE else bool(lane.queue)
            registered = fd in self._selector.get_map()
            if wanted and not registered:
                self._selector.register(fd, event, lane)
            elif not wanted and registered:
                self._selector.unregister(fd)

    def _write(self, lane: _Lane, finished: list[Finished]) -> None:
        try:
            self._flush(lane)
        except OSError as error:
            self._fail(lane, str(error), finished)
            return
        self._watch(lane)

    def _flush(self, lane: _Lane) -> None:
        """Write what the server's pipe takes now."""
        try:
            written = os.write(lane.server.pipes[0], lane.outgoing)
        except BlockingIOError:
            return
        del lane.outgoing[:written]

    def _read(self, lane: _Lane, finished: list[Finished]) -> None:
        try:
            chunk = os.read(lane.server.pipes[1], _READ_CHUNK)
        except BlockingIOError:
            return
        except OSError as error:
            self._fail(lane, str(error), finished)
            return
        if not chunk:
            self._fail(lane, "stream closed", finished)
            return
        lane.incoming += chunk
        while len(lane.incoming) >= _HEADER:
            length = int.from_bytes(lane.incoming[:_HEADER], "big")
            if length > frames.MAX_MESSAGE:
                self._fail(lane, f"message of {length} bytes is too large", finished)
                return
            if len(lane.incoming) < _HEADER + length:
                break
            lane.frames.append(bytes(lane.incoming[_HEADER:_HEADER + length]))
            del lane.incoming[:_HEADER + length]
            if len(lane.frames) < wire.REPLY_FRAMES:
                continue
            try:
                reply = wire.decode_reply(lane.frames, lane.queue[0].started)
            except ValueError as error:
                self._fail(lane, f"reply is not JSON: {error}", finished)
                return
            lane.frames.clear()
            head = lane.queue.popleft()
            finished.append(Finished(head.tag, reply))
            if lane.queue:
                lane.queue[0].started = time.monotonic()
        self._watch(lane)

    def _fail(self, lane: _Lane, reason: str, finished: list[Finished]) -> None:
        """The server died or hung: its current job fails, the jobs queued behind it go elsewhere."""
        head = lane.queue.popleft()
        message = f"the sandbox process stopped while running this submission ({reason})"
        finished.append(Finished(head.tag, wire.failed_reply(message, head.started)))
        self._retry.extend(lane.queue)
        lane.queue.clear()
        self._retire(lane)
        process.sweep_foreign_orphans(client.live_servers())

    def _retire(self, lane: _Lane) -> None:
        for fd in lane.server.pipes:
            if fd in self._selector.get_map():
                self._selector.unregister(fd)
        lane.server.close()
        self._lanes.remove(lane)

    def close(self) -> None:
        for server in [*self._spawned, *(lane.server for lane in self._lanes)]:
            server.close()
        self._spawned.clear()
        self._lanes.clear()
        self._selector.close()
        process.sweep_foreign_orphans(client.live_servers())

    def __enter__(self) -> Pipeline:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()
