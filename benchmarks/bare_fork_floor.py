"""The isolation floor: what any harness that forks one process per notebook must spend, and no more.

A numpy-only parent reads each notebook with json, forks one bare child per notebook (two at
once by default), and the child runs the notebook's code cells, calls the graded function on
every case, and sends the returned numbers back over a pipe as raw float64 bytes; the parent
compares them with the reference's values, numpy's BLAS on one thread as in `grade`. No sandbox
layer, no per-step capture, no feedback: this is the floor `grade` is measured against
(benchmarks/class_benchmark.py runs it on the same class, interleaved with `grade`).

    python benchmarks/bare_fork_floor.py SPEC.pickle

SPEC (written by class_benchmark.py) holds the notebook paths, the function's name, the cases'
arguments, the expected returned values and the time limits. Prints one JSON line: seconds, how
many notebooks were right, wrong or failed, and when its first child was forked (the wall clock).
"""

from __future__ import annotations

import json
import os
import pickle
import select
import signal
import struct
import sys
import time

from grader import blas_threads

# One BLAS thread, as in `grade` (grader/entry.py and its fork servers): an OpenBLAS pool in the parent is shut
# down before every fork and started again in each child that multiplies a matrix, which no careful harness pays.
blas_threads.cap(os.environ)

import numpy as np  # noqa: E402

from grader.selfcheck_cell import is_self_check  # noqa: E402

_LENGTH = struct.Struct("<q")


class _Budget(BaseException):
    """The child's time for a stage is up (a BaseException, so student code's `except Exception` cannot swallow it)."""


def _on_alarm(signum, frame):
    raise _Budget


def _code_cells(path: str) -> list[str] | None:
    try:
        with open(path, "rb") as stream:
            book = json.loads(stream.read())
        cells = []
        for cell in book["cells"]:
            if cell.get("cell_type") == "code":
                source = cell.get("source", "")
                text = "".join(source) if isinstance(source, list) else source
                # The course's self-check cell is not the student's code: `grade` leaves it out, and so does
                # the floor (run, it would start a whole sandboxed check inside every child).
                if not is_self_check(text):
                    cells.append(text)
        return cells
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None


def _child(cells: list[str], spec: dict, write_end: int) -> None:
    """Run the cells, call the function on every case, write each case's returned floats. Never returns."""
    try:
        null = os.open(os.devnull, os.O_WRONLY)
        os.dup2(null, 1)
        os.dup2(null, 2)
        signal.signal(signal.SIGALRM, _on_alarm)
        namespace = {"__name__": "__main__"}
        # Each cell gets the grader's budget of one top-level statement, all of them half the time
        # limit, the calls the rest (as the grader's child does; a cell that never ends is cut alike).
        module_deadline = time.monotonic() + spec["timeout"] * 0.5
        for number, source in enumerate(cells):
            remaining = module_deadline - time.monotonic()
            if remaining <= 0:
                break
            signal.setitimer(signal.ITIMER_REAL, min(spec["statement"], remaining))
            try:
                exec(compile(source, f"<cell {number}>", "exec"), namespace)
            except (_Budget, Exception):
                pass
            finally:
                signal.setitimer(signal.ITIMER_REAL, 0)
        signal.setitimer(signal.ITIMER_REAL, spec["timeout"] * 0.4)
        function = namespace.get(spec["function"])
        parts = []
        try:
            for arguments in spec["cases"]:
                try:
                    returned = function(**{name: np.copy(value) if isinstance(value, np.ndarray) else value
                                           for name, value in arguments.items()})
                    flat = np.concatenate([np.asarray(value, dtype=np.float64).ravel() for value in returned])
                    data = flat.tobytes()
                except Exception:
                    data = b""
                parts.append(_LENGTH.pack(len(data)) + data)
        except _Budget:
            pass
        signal.setitimer(signal.ITIMER_REAL, 0)
        view = memoryview(b"".join(parts))
        while view:
            view = view[os.write(write_end, view):]
    finally:
        os._exit(0)


def _verdict(payload: bytes, expected: list[np.ndarray]) -> str:
    """'right' when every case returned the reference's numbers, 'failed' when cases are missing, else 'wrong'."""
    offset, right = 0, True
    for reference in expected:
        if offset + _LENGTH.size > len(payload):
            return "failed"
        (length,) = _LENGTH.unpack_from(payload, offset)
        offset += _LENGTH.size
        got = np.frombuffer(payload, dtype=np.float64, count=length // 8, offset=offset)
        offset += length
        right = right and got.shape == reference.shape and bool(np.allclose(got, reference, rtol=1e-6, atol=1e-9))
    return "right" if right else "wrong"


def run(spec: dict) -> dict:
    """Grade every notebook of `spec` with bare forks, `spec['jobs']` at a time; the counts, the seconds taken and
    when (wall clock) the first child was forked, for the benchmark's start-up baseline."""
    started = time.perf_counter()
    first_fork = None
    counts = {"right": 0, "wrong": 0, "failed": 0}
    running: dict[int, tuple[int, bytearray]] = {}
    expected = [np.asarray(value, dtype=np.float64) for value in spec["expected"]]
    pending = list(spec["paths"])
    while pending or running:
        while pending and len(running) < spec["jobs"]:
            cells = _code_cells(pending.pop(0))
            if cells is None:
                counts["failed"] += 1
                continue
            read_end, write_end = os.pipe()
            first_fork = time.time() if first_fork is None else first_fork
            pid = os.fork()
            if pid == 0:
                os.close(read_end)
                _child(cells, spec, write_end)
            os.close(write_end)
            running[read_end] = (pid, bytearray())
        if not running:
            continue
        readable, _, _ = select.select(list(running), [], [])
        for fd in readable:
            pid, buffer = running[fd]
            chunk = os.read(fd, 1 << 16)
            if chunk:
                buffer += chunk
                continue
            os.close(fd)
            os.waitpid(pid, 0)
            del running[fd]
            counts[_verdict(bytes(buffer), expected)] += 1
    return {"seconds": time.perf_counter() - started, "first_fork": first_fork, **counts}


def main() -> None:
    with open(sys.argv[1], "rb") as stream:
        spec = pickle.load(stream)
    print(json.dumps(run(spec)))


if __name__ == "__main__":
    main()
