"""The fork server: a clean process that forks one child per submission.

`launcher` sets up its namespaces and execs it, from `sys.executable` with a scrubbed
environment; it imports numpy and the child runner only, never the reference solution or a
hidden expected value, so no child can find them in the memory it inherits. It talks to the
grader over stdin/stdout (`wire`), enforces each child's wall clock and relays the child's
result bytes; the grader parses and judges them.

Every job child inherits this process's memory, so what one submission sent or produced must
not linger in it for the next: a job's code arrives as raw bytes in a buffer of its own, parsed
only in its child and wiped here once that child has ended; the result and the stdout excerpt
are read into buffers that are wiped once relayed; stdin is read unbuffered, never ahead into
the next job.
"""

from __future__ import annotations

import dataclasses
import gc
import json
import os
import select
import signal
import sys
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, TextIO

from grader import fastjson
from grader.sandbox import frames, layers, limits, process, wire
from grader.sandbox.server_setup import ServerSetup

if TYPE_CHECKING:
    from grader.sandbox.child import StubCells

RESULT_FD = 3


@dataclass(frozen=True)
class Sandbox:
    """What every child of this server shares: the cases, the namespaces set up, the layers to apply."""

    cases: list[wire.WireCase]
    setup: ServerSetup
    plan: frozenset[str]
    base: str
    arguments: list[dict] | None = None
    """The cases' arguments, decoded before the first fork (`child.decoded_arguments`)."""
    stub: StubCells | None = None
    """The stub's cells, parsed and compiled before the first fork (`child.prepare_stub`)."""
    run: Callable[..., wire.Document] | None = None
    """What a job child runs (`child.run`); None for the probe, forked before numpy and the runner are loaded."""
    streams: tuple[TextIO, TextIO, TextIO] = ()
    """The children's sys.stdin, stdout and stderr (`_standard_streams`)."""


def main(setup_fd: int) -> None:
    # The grader starts us from the package's parent folder; student code must not import from it.
    if sys.path and sys.path[0] in ("", os.getcwd()):
        sys.path.pop(0)
    with os.fdopen(setup_fd, "rb") as stream:
        given = json.loads(stream.read())
    setup, base = ServerSetup(**given["setup"]), given["base"]
    requests = open(0, "rb", buffering=0, closefd=False)
    replies = open(1, "wb", buffering=0, closefd=False)
    try:
        try:
            probe_start: wire.ProbeStart = frames.read(requests)
        except frames.ProtocolError:
            return  # spawned ahead of need and closed unused (the run ended or failed before its first job)
        hardening = process.harden_parent()
        fastjson.writer()  # every child, the probe first, writes its document with it: imported once, here
        streams = _standard_streams()
        os.chdir(base)
        # The probe runs before the cases arrive (it needs none, and the grader is still building them) and before
        # numpy and the child's runner are imported: they load here while the probe child works on another core.
        probe = _fork(wire.ProbeJob(id=0, limits=probe_start["limits"], probe=hardening), None,
                      Sandbox([], setup, frozenset(), base, streams=streams))
        from grader.sandbox import child

        reply = _collect(probe)
        document = json.loads(bytes(reply.result or b"{}"))
        report = document.get("layers")
        # A probe that failed says why in words (its last line), for the grader's error message.
        failure = None if report is not None else _probe_failure(document, reply.envelope)
        _send(replies, [frames.encode(wire.ProbeAnswer(layers=report, failure=failure))])
        if report is None:
            return
        try:
            request: wire.ServerStart = frames.read(requests)
        except frames.ProtocolError:
            return
        sandbox = Sandbox(request["cases"], setup, layers.plan_of([layers.Layer(**entry) for entry in report]), base,
                          child.decoded_arguments(request["cases"]), child.prepare_stub(request.get("stub")), child.run,
                          streams)
        layers.prepare(sandbox.setup, sandbox.plan)
        child.restore_numpy_1_names()
        # Objects made so far are never collected: a child's garbage collector then leaves their
        # pages shared instead of copying them on every fork.
        gc.freeze()
        while True:
            try:
                job: wire.JobHeader = frames.read(requests)
                body = frames.read_into(requests)
            except frames.ProtocolError:
                return
            reply = run_job(job, body, sandbox)
            _send(replies, wire.encode_reply(reply.envelope, reply.result, reply.stdout))
            frames.wipe(reply.result, reply.stdout)
    finally:
        _remove_base(base)


def _standard_streams() -> tuple[TextIO, TextIO, TextIO]:
    """Text streams over descriptors 0, 1 and 2 for the children (stdin from /dev/null, stdout and stderr to their
    capture files once each child has put those there), made once: about 0.2 ms and 50 copied pages a child that made
    its own. This server never reads or writes them (its own 0 and 1 are the grader's pipes), so every child gets them
    as they were made: empty, never flushed into the server's pipes.

    A stream can only be made over an open descriptor: one the grader was started without (its stderr closed) is
    /dev/null here, as the child's own would be until it puts its capture file there.
    """
    for fd in (0, 1, 2):
        try:
            os.fstat(fd)
        except OSError:
            os.open(os.devnull, os.O_RDWR)  # the lowest free descriptor, `fd` itself: those below it are open by now
    return (open(0, encoding="utf-8", closefd=False),
            open(1, "w", encoding="utf-8", errors="replace", buffering=1, closefd=False),
            open(2, "w", encoding="utf-8", errors="replace", buffering=1, closefd=False))


def _remove_base(base: str) -> None:
    """This server's folder, at its end: empty unless a job's folder could not be removed (then the whole tree).

    An empty one is left as it is when it cannot go (a tmpfs mounted on it goes with the mount namespace).
    """
    try:
        if os.listdir(base):
            process.remove_tree(base)
        else:
            os.rmdir(base)
    except OSError:
        pass


def _probe_failure(document: dict, envelope: wire.Envelope) -> str:
    internal = str(document.get("internal") or "").strip()
    if internal:
        return internal.splitlines()[-1]
    return f"it sent no report ({envelope['exit'] or 'no exit status'}{', timed out' if envelope['timed_out'] else ''})"


@dataclass(frozen=True)
class Reply:
    """What a job produced: a small envelope of facts, and the child's bytes in wipeable buffers."""

    envelope: wire.Envelope
    result: bytearray | None
    stdout: bytearray


def _send(replies, parts: list) -> None:
    for part in parts:
        view = memoryview(part)
        while view:
            view = view[replies.write(view):]


def run_job(job: wire.JobHeader | wire.ProbeJob, body: bytearray | None, sandbox: Sandbox) -> Reply:
    """Fork a child for `job`, wait for its result under the wall clock, clean up after it."""
    return _collect(_fork(job, body, sandbox))


@dataclass(frozen=True)
class _ForChild:
    """What the server made for one child before forking it."""

    scratch: str
    out: int
    err: int
    result: int
    """The write end of the result pipe."""
    limits: limits.Planned


@dataclass(frozen=True)
class _Running:
    """A job's child, forked: what the server reads its result through and cleans up after it."""

    job_id: int
    pid: int
    started: float
    deadline: float
    result: int
    """The read end of the child's result pipe."""
    job_dir: str
    given: _ForChild
    body: bytearray | None
    """The job's cells as they arrived, wiped once the child has ended (`_collect`)."""


def _fork(job: wire.JobHeader | wire.ProbeJob, body: bytearray | None, sandbox: Sandbox) -> _Running:
    """Fork `job`'s child in a new folder of its own.

    Every job gets a new folder: the child may wreck its own (swap files for links, remove
    permissions), so nothing in it is trusted or reused. The captured output files are opened
    here, before the fork, and read back through those descriptors, never by path.
    """
    job_dir = process.new_folder(sandbox.base, "job-")
    scratch = f"{job_dir}/scratch"
    os.mkdir(scratch, 0o700)
    if sandbox.setup.sandbox_id is not None:
        os.chmod(job_dir, 0o711)
        os.chown(scratch, sandbox.setup.sandbox_id, sandbox.setup.sandbox_id)
    flags = os.O_RDWR | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
    out = os.open(f"{job_dir}/stdout", flags, 0o600)
    err = os.open(f"{job_dir}/stderr", flags, 0o600)
    read_end, write_end = os.pipe()
    given = _ForChild(scratch, out, err, write_end, limits.planned(job["limits"]))
    started = time.monotonic()
    sys.stdout.flush()
    pid = os.fork()
    if pid == 0:
        _child(job, body, sandbox, given)
    os.close(write_end)
    return _Running(job["id"], pid, started, started + job["limits"]["timeout"], read_end, job_dir, given, body)


def _collect(running: _Running) -> Reply:
    """Wait for the child's result under the wall clock, reap it (and whatever it left running), clean up.

    The job's cells are wiped only once the child has ended: while it runs, every page this server writes is one the
    child still shares, copied for the write (wiping them right after the fork cost a class 4 % of its CPU on a slow
    stretch of a 2-CPU machine, nothing measurable on a fast one).
    """
    try:
        try:
            payload, timed_out = _read_result(running.result, running.deadline)
        finally:
            os.close(running.result)
        status = process.finish(running.pid, running.deadline)
    finally:
        frames.wipe(running.body)
    stdout, stdout_bytes = _excerpt(running.given.out)
    envelope = wire.Envelope(id=running.job_id, result=payload is not None, timed_out=timed_out or status is None,
                             exit=process.describe_status(status),
                             seconds=round(time.monotonic() - running.started, 4), stdout_bytes=stdout_bytes)
    os.close(running.given.out)
    os.close(running.given.err)
    _remove_folder(running.job_dir, running.given.scratch)
    return Reply(envelope, payload, stdout)


# Every page this server writes between two forks is copied once (the last child shares it): the job folder is
# made (`process.new_folder`) and removed with a few system calls, not tempfile's and shutil's Python-level helpers.
def _remove_folder(job_dir: str, scratch: str) -> None:
    """Remove a job's folder: what the server put there, and an empty scratch folder; else the whole tree, whatever
    the child left in it."""
    try:
        os.unlink(f"{job_dir}/stdout")
        os.unlink(f"{job_dir}/stderr")
        os.rmdir(scratch)
        os.rmdir(job_dir)
    except OSError:
        try:
            process.remove_tree(job_dir)
        except Exception:  # whatever the child left there, it must not end this server's loop
            pass


def _child(job: wire.JobHeader | wire.ProbeJob, body: bytearray | None, sandbox: Sandbox, given: _ForChild) -> None:
    """In the forked child: isolate, run the job, send the result, exit. Never returns."""
    code = 70
    try:
        os.setsid()
        os.chdir(given.scratch)
        null = os.open(os.devnull, os.O_RDONLY)
        for fd, target in ((null, 0), (given.out, 1), (given.err, 2), (given.result, RESULT_FD)):
            os.dup2(fd, target)
        os.closerange(RESULT_FD + 1, 65536)
        limits.apply_in_child(given.limits)
        # Item by item: MutableMapping.update's checks (ABC instance checks, first run in this child) copied a
        # hundred pages more. Student code and the processes it starts find the scratch folder in both.
        os.environ["TMPDIR"] = given.scratch
        os.environ["HOME"] = given.scratch
        # This server does not load tempfile (its random module reseeds itself at every fork, and shutil's
        # compression modules are mappings every fork copies): a notebook that loads it finds TMPDIR. Were it
        # loaded, the folder it may have chosen is pointed at the scratch folder.
        if "tempfile" in sys.modules:
            sys.modules["tempfile"].tempdir = given.scratch
        sys.stdin, sys.stdout, sys.stderr = sandbox.streams
        try:
            if "probe" in job:
                report = layers.probe(sandbox.setup, job["probe"], given.scratch)
                document = {"layers": [dataclasses.asdict(layer) for layer in report]}
            else:
                layers.apply(sandbox.setup, sandbox.plan, given.scratch)
                document = sandbox.run(wire.decode_job(body), sandbox.cases, sandbox.arguments, sandbox.stub)
        except BaseException:
            document = {"internal": traceback.format_exc()[-4000:]}
        _write_all(RESULT_FD, wire.encode_document(document))
        code = 0
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except BaseException:
                pass
    finally:
        os._exit(code)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def _read_result(fd: int, deadline: float) -> tuple[bytearray | None, bool]:
    """The child's framed result (None if absent or malformed), and whether time ran out."""
    header = bytearray(frames.HEADER.size)
    if not _fill(fd, header, deadline):
        return None, time.monotonic() >= deadline
    (expected,) = frames.HEADER.unpack(header)
    if expected > wire.MAX_RESULT:
        return None, False
    payload = bytearray(expected)
    if not _fill(fd, payload, deadline):
        frames.wipe(payload)
        return None, time.monotonic() >= deadline
    return payload, False


def _fill(fd: int, buffer: bytearray, deadline: float) -> bool:
    """Read exactly len(buffer) bytes into `buffer` (no intermediate copies) before `deadline`.

    Bytes the child wrote in time are read even when this server gets the CPU back only after the deadline
    (a busy machine): past it, the pipe is looked at once more, without waiting.
    """
    view, filled = memoryview(buffer), 0
    while filled < len(buffer):
        remaining = deadline - time.monotonic()
        if not select.select([fd], [], [], max(remaining, 0.0))[0]:
            return False
        count = os.readv(fd, [view[filled:]])
        if not count:
            return False
        filled += count
    return True


def _excerpt(fd: int) -> tuple[bytearray, int]:
    """The start of a captured output file, and its size."""
    head = bytearray(wire.OUTPUT_EXCERPT)
    try:
        size = os.fstat(fd).st_size
        count = os.preadv(fd, [head], 0)
    except OSError:
        return bytearray(), 0
    del head[count:]
    return head, size


if __name__ == "__main__":
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    main(int(sys.argv[1]))
    # Everything is cleaned up: the interpreter's own teardown (numpy's modules: ~8 ms) would only delay the
    # grader, which waits for this process to end before it ends itself.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)
