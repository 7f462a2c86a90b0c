"""The fork server: a clean process that forks one child per submission.

It is started from `sys.executable` with a scrubbed environment and imports numpy and the
child runner only, never the reference solution or a hidden expected value, so no child
can find them in the memory it inherits. It talks to the grader over stdin/stdout
(`protocol`), enforces each child's wall clock and relays the child's result bytes as text;
the grader parses and judges them.
"""

from __future__ import annotations

import dataclasses
import gc
import json
import os
import select
import shutil
import signal
import struct
import sys
import tempfile
import time
import traceback
from dataclasses import dataclass

from grader.sandbox import child, layers, limits, namespaces, process, protocol

RESULT_FD = 3
MAX_RESULT = 16 * 1024 * 1024
OUTPUT_EXCERPT = 4096
_RESULT_HEADER = struct.Struct(">Q")


@dataclass(frozen=True)
class Sandbox:
    """What every child of this server shares: the cases, the namespaces set up, the layers to apply."""

    cases: list[dict]
    setup: namespaces.ServerSetup
    plan: frozenset[str]
    base: str


def main() -> None:
    # The grader starts us from the package's parent folder; student code must not import from it.
    if sys.path and sys.path[0] in ("", os.getcwd()):
        sys.path.pop(0)
    requests, replies = sys.stdin.buffer, sys.stdout.buffer
    request = protocol.read(requests)
    base = tempfile.mkdtemp(prefix="backprop-grader-")
    # A child running as another uid must reach its scratch dir by absolute path too (traverse, not list).
    os.chmod(os.path.dirname(base), 0o711)
    setup = namespaces.set_up_server(base, int(request["scratch_bytes"]), layers.readable_paths(), request["hidden"])
    if setup.sandbox_id is not None and not setup.mountns:
        # No tmpfs was mounted over `base` (0700 from mkdtemp): the dropped uid must traverse it to its scratch.
        os.chmod(base, 0o711)
    # Only now: a non-dumpable process may not write its own /proc/self/uid_map.
    hardening = process.harden_parent()
    os.chdir(base)
    try:
        probe = Sandbox(request["cases"], setup, frozenset(), base)
        reply = run_job({"id": 0, "probe": hardening, "limits": request["probe_limits"]}, probe)
        document = json.loads(reply["result"] or "{}")
        report = document.get("layers")
        # A probe that failed says why in words (its last line), for the grader's error message.
        failure = None if report is not None else _probe_failure(document, reply)
        protocol.write(replies, {"layers": report, "failure": failure})
        if report is None:
            return
        sandbox = Sandbox(request["cases"], setup, layers.plan_of([layers.Layer(**entry) for entry in report]), base)
        # Objects made so far are never collected: a child's garbage collector then leaves their
        # pages shared instead of copying them on every fork.
        gc.freeze()
        while True:
            try:
                job = protocol.read(requests)
            except protocol.ProtocolError:
                return
            protocol.write(replies, run_job(job, sandbox))
    finally:
        shutil.rmtree(base, ignore_errors=True)


def _probe_failure(document: dict, reply: dict) -> str:
    internal = str(document.get("internal") or "").strip()
    if internal:
        return internal.splitlines()[-1]
    return f"it sent no report ({reply['exit'] or 'no exit status'}{', timed out' if reply['timed_out'] else ''})"


def run_job(job: dict, sandbox: Sandbox) -> dict:
    """Fork a child for `job`, wait for its result under the wall clock, clean up after it.

    Every job gets a new folder: the child may wreck its own (swap files for links, remove
    permissions), so nothing in it is trusted or reused. The captured output files are opened
    here, before the fork, and read back through those descriptors, never by path.
    """
    job_dir = tempfile.mkdtemp(dir=sandbox.base)
    scratch = os.path.join(job_dir, "scratch")
    os.mkdir(scratch, 0o700)
    if sandbox.setup.sandbox_id is not None:
        os.chmod(job_dir, 0o711)
        os.chown(scratch, sandbox.setup.sandbox_id, sandbox.setup.sandbox_id)
    flags = os.O_RDWR | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
    out = os.open(os.path.join(job_dir, "stdout"), flags, 0o600)
    err = os.open(os.path.join(job_dir, "stderr"), flags, 0o600)
    read_end, write_end = os.pipe()
    started = time.monotonic()
    sys.stdout.flush()
    pid = os.fork()
    if pid == 0:
        _child(job, sandbox, scratch, out, err, write_end)
    os.close(write_end)
    deadline = started + job["limits"]["timeout"]
    try:
        payload, timed_out = _read_result(read_end, deadline)
    finally:
        os.close(read_end)
    status = process.finish(pid, deadline)
    reply = {
        "id": job["id"],
        "result": payload,
        "timed_out": timed_out or status is None,
        "exit": process.describe_status(status),
        "seconds": round(time.monotonic() - started, 4),
        "stdout": _excerpt(out),
        "stderr": _excerpt(err),
    }
    os.close(out)
    os.close(err)
    try:
        process.remove_tree(job_dir)
    except Exception:  # whatever the child left there, it must not end this server's loop
        pass
    return reply


def _child(job: dict, sandbox: Sandbox, scratch: str, out: int, err: int, write_end: int) -> None:
    """In the forked child: isolate, run the job, send the result, exit. Never returns."""
    code = 70
    try:
        os.setsid()
        os.chdir(scratch)
        null = os.open(os.devnull, os.O_RDONLY)
        for fd, target in ((null, 0), (out, 1), (err, 2), (write_end, RESULT_FD)):
            os.dup2(fd, target)
        os.closerange(RESULT_FD + 1, 65536)
        limits.apply_in_child(job["limits"])
        os.environ.update(TMPDIR=scratch, HOME=scratch)
        tempfile.tempdir = scratch
        sys.stdin = open(0, encoding="utf-8", closefd=False)
        sys.stdout = open(1, "w", encoding="utf-8", errors="replace", buffering=1, closefd=False)
        sys.stderr = open(2, "w", encoding="utf-8", errors="replace", buffering=1, closefd=False)
        try:
            if "probe" in job:
                report = layers.probe(sandbox.setup, job["probe"], scratch)
                document = {"layers": [dataclasses.asdict(layer) for layer in report]}
            else:
                layers.apply(sandbox.setup, sandbox.plan, scratch)
                document = child.run(job, sandbox.cases)
        except BaseException:
            document = {"internal": traceback.format_exc()[-4000:]}
        payload = json.dumps(document, separators=(",", ":")).encode()
        _write_all(RESULT_FD, _RESULT_HEADER.pack(len(payload)) + payload)
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


def _read_result(fd: int, deadline: float) -> tuple[str | None, bool]:
    """The child's framed result as text (None if absent or malformed), and whether time ran out."""
    buffer = bytearray()
    expected = None
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return None, True
        ready, _, _ = select.select([fd], [], [], remaining)
        if not ready:
            return None, True
        chunk = os.read(fd, 1 << 16)
        if not chunk:
            return None, False
        buffer += chunk
        if expected is None and len(buffer) >= _RESULT_HEADER.size:
            (expected,) = _RESULT_HEADER.unpack_from(buffer)
            if expected > MAX_RESULT:
                return None, False
        if expected is not None and len(buffer) >= _RESULT_HEADER.size + expected:
            payload = bytes(buffer[_RESULT_HEADER.size:_RESULT_HEADER.size + expected])
            return payload.decode("utf-8", errors="replace"), False


def _excerpt(fd: int) -> dict:
    try:
        size = os.fstat(fd).st_size
        head = os.pread(fd, OUTPUT_EXCERPT, 0)
    except OSError:
        return {"text": "", "bytes": 0}
    return {"text": head.decode("utf-8", errors="replace"), "bytes": size}


if __name__ == "__main__":
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    main()
