"""Per-submission cost of each sandbox layer, against a bare fork, measured in one run.

Each sample forks a child of this numpy-loaded process that runs the reference notebook's
cells and calls backward_pass on every case (as a fork-server child does), with a given set of
layers applied first. Configurations are interleaved round by round, so machine drift hits
them alike; compare the ratios. The namespace configuration comes last because it moves this
process into new namespaces for good (root or unprivileged user namespaces needed); with a PID
namespace the measuring goes on in a forked child, pid 1 there, as in a fork server.

    python benchmarks/sandbox_layers.py [--rounds 100] [--solutions solutions]
"""

from __future__ import annotations

import argparse
import ctypes
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from grader import assignment, notebook, values
from grader.assignment import cases as case_builder
from grader.sandbox import child, client, landlock, limits, namespaces, seccomp

Layering = Callable[[str], None]
_PR_SET_NO_NEW_PRIVS = 38


def _job(solutions: Path) -> tuple[dict, list[dict]]:
    loaded = assignment.load(solutions, "backward_pass")
    built = case_builder.build(loaded, loaded.defaults.seed)
    book = notebook.read(loaded.layout.reference)
    job = {"cells": [{"index": cell.index, "source": cell.source} for cell in book.cells],
           "function": loaded.rubric.function, "parameters": list(loaded.reference.parameters),
           "steps": list(loaded.rubric.step_names), "returns": list(loaded.rubric.returns),
           "limits": loaded.defaults.limits.as_wire()}
    wire = [{"name": case.name, "arguments": {name: values.encode_argument(value) for name, value in case.arguments.items()}}
            for case in built]
    return job, wire


def _sample(job: dict, cases: list[dict], base: str, layering: Layering) -> float:
    scratch = tempfile.mkdtemp(dir=base)
    os.chmod(scratch, 0o777)
    read_end, write_end = os.pipe()
    started = time.perf_counter()
    pid = os.fork()
    if pid == 0:
        try:
            os.setsid()
            os.chdir(scratch)
            out = os.open(os.devnull, os.O_WRONLY)
            os.dup2(out, 1)
            limits.apply_in_child(limits.planned(job["limits"]))
            layering(scratch)
            os.write(write_end, json.dumps(child.run(job, cases)).encode()[:60000])
        finally:
            os._exit(0)
    os.close(write_end)
    while os.read(read_end, 1 << 16):
        pass
    os.close(read_end)
    os.waitpid(pid, 0)
    elapsed = time.perf_counter() - started
    shutil.rmtree(scratch, ignore_errors=True)
    return elapsed


def _configurations(setup: namespaces.ServerSetup) -> dict[str, Layering]:
    readable = landlock.SYSTEM_DIRS + tuple(client.readable_paths())

    def with_seccomp(scratch: str) -> None:
        seccomp.install(os.getpgrp(), os.getpid())

    def with_landlock(scratch: str) -> None:
        ctypes.CDLL(None).prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)
        landlock.restrict(readable, [scratch])

    def with_identity(scratch: str) -> None:
        namespaces.enter_child(setup)

    def with_all(scratch: str) -> None:
        namespaces.enter_child(setup)
        with_landlock(scratch)
        with_seccomp(scratch)

    configurations: dict[str, Layering] = {"bare fork": lambda scratch: None}
    if seccomp.supported():
        configurations["+ seccomp"] = with_seccomp
    if landlock.abi_version():
        configurations["+ landlock"] = with_landlock
    if setup.sandbox_id is not None:
        configurations["+ uid drop, nproc"] = with_identity
    configurations["all per-child layers"] = with_all
    return configurations


def _measure(configurations: dict[str, Layering], job: dict, cases: list[dict], base: str, rounds: int) -> dict[str, float]:
    samples: dict[str, list[float]] = {name: [] for name in configurations}
    for _ in range(3):  # warm-up: page cache, lazy imports
        for layering in configurations.values():
            _sample(job, cases, base, layering)
    for _ in range(rounds):
        for name, layering in configurations.items():
            samples[name].append(_sample(job, cases, base, layering))
    return {name: statistics.median(values) * 1000 for name, values in samples.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=100)
    parser.add_argument("--solutions", type=Path, default=Path("solutions"))
    options = parser.parse_args()
    job, cases = _job(options.solutions)
    base = tempfile.mkdtemp(prefix="backprop-bench-")
    os.chmod(base, 0o755)
    root = os.geteuid() == 0
    setup = namespaces.ServerSetup(root=root, sandbox_id=namespaces.SANDBOX_ID_BASE + os.getpid() if root else None,
                                   nproc=namespaces.NPROC_FOR_DROPPED_UID if root else None)
    results = _measure(_configurations(setup), job, cases, base, options.rounds)
    bare = results["bare fork"]
    # Namespaces are entered once per fork server; measure children forked inside them, last.
    scratch_root = tempfile.mkdtemp(dir=base)
    inside = namespaces.set_up_server(scratch_root, 64 << 20, client.readable_paths(), [])
    if inside.mountns:
        again = _measure({"bare fork (again)": lambda scratch: None,
                          "all layers in namespaces": _configurations(inside)["all per-child layers"]},
                         job, cases, scratch_root, options.rounds)
        results.update(again)
    shutil.rmtree(base, ignore_errors=True)
    version = sys.version.split()[0]
    print(f"{len(cases)} cases per submission, {options.rounds} rounds, median ms per submission (python {version})")
    for name, value in results.items():
        reference = results["bare fork (again)"] if name == "all layers in namespaces" else bare
        print(f"  {name:<28} {value:7.2f} ms   x{value / reference:5.2f}   {value - reference:+6.2f} ms")


if __name__ == "__main__":
    main()
