"""Where a submission's milliseconds go: the grader process, the fork servers and the children, under cProfile.

    python benchmarks/profile_class.py [--size 400] [--jobs 2] [--cprofile]
    python benchmarks/profile_class.py --sandbox-dumps DIR --server-stderr FILE --size 400

The first form grades a synthetic class (benchmarks/synthetic.py) with `grade --no-cache` in this
process, with a clock around each stage's function (or, with --cprofile, under cProfile with
its top functions), and prints the grader process's time per submission by stage: reading
and parsing notebooks, the cache and results log, encoding jobs, waiting for the sandbox,
reading replies, judging, reports.

The sandbox side cannot be profiled from outside: the fork servers live in their own PID and
mount namespaces (py-spy --subprocesses does not see them) and a child lives a few milliseconds.
The second form summarises the dumps of a profiling hook kept on a scratch branch only (never
merged: it sends each child's cProfile stats in its result document, which the grader writes to
DIR, and each server's on its stderr at exit), run as
`GRADER_PROFILE=1 grade CLASS --no-cache ... 2> FILE`. Shares are what to compare: the machine
may be busy, and cProfile slows Python-heavy code (judging, the child's capture) more than C.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import cProfile
import io
import os
import pstats
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))

import synthetic  # noqa: E402

# Grader-process stages: (label, functions whose inclusive time is the stage), in the order
# they are matched; a function counted in a stage is not counted again inside a later one.
PARENT_STAGES: list[tuple[str, list[tuple[str, str]]]] = [
    ("read + hash notebook (batch.load)", [("grader/batch.py", "load")]),
    ("cache / results-log lookup + key", [("grader/session.py", "_known"), ("grader/session.py", "_key")]),
    ("parse notebook (notebook.parse)", [("grader/notebook.py", "parse")]),
    ("job encode + submit", [("grader/sandbox/pipeline.py", "submit")]),
    ("waiting for the sandbox (select)", [("selectors.py", "select")]),
    ("reply read + decode (pipeline._read)", [("grader/sandbox/pipeline.py", "_read")]),
    ("judge (grading.judge)", [("grader/batch.py", "judge")]),
    ("record + results-log / cache append", [("grader/records.py", "to_record"), ("grader/store.py", "append")]),
    ("reports (results.json, gradebook, report.html)", [("grader/report/class_reports.py", "write_sections")]),
    ("start fork servers", [("grader/sandbox/pipeline.py", "_start"), ("grader/sandbox/pipeline.py", "layers")]),
]


# The same stages timed without a profiler: (label, module, attribute path) wrapped with a clock.
TIMED_STAGES: list[tuple[str, str, str]] = [
    ("read + hash notebook", "grader.batch", "load"),
    ("cache / results-log lookup + key", "grader.session", "ClassRun._known"),
    ("parse notebook", "grader.notebook", "parse"),
    ("job encode + submit", "grader.sandbox.pipeline", "Pipeline.submit"),
    ("waiting for the sandbox (select)", "selectors", "EpollSelector.select"),
    ("reply read + decode", "grader.sandbox.pipeline", "Pipeline._read"),
    ("judge", "grader.batch", "Grader.judge"),
    ("record + results-log / cache append", "grader.records", "to_record"),
    ("reports (results.json, gradebook, report.html)", "grader.report.class_reports", "write_sections"),
    ("start fork servers", "grader.sandbox.pipeline", "Pipeline._start"),
]


def time_parent(folder: Path, scratch: Path, jobs: int, size: int) -> None:
    """`grade` in this process with a clock around each stage's function; print ms per submission and shares."""
    import importlib

    spent: dict[str, float] = dict.fromkeys((label for label, _, _ in TIMED_STAGES), 0.0)

    def clocked(label, function):
        def wrapper(*args, **kwargs):
            started = time.perf_counter()
            try:
                return function(*args, **kwargs)
            finally:
                spent[label] += time.perf_counter() - started
        return wrapper

    started = time.perf_counter()
    from grader.cli import grade
    imports = time.perf_counter() - started
    for label, module_name, attribute in TIMED_STAGES:
        owner = importlib.import_module(module_name)
        *path, name = attribute.split(".")
        for part in path:
            owner = getattr(owner, part)
        setattr(owner, name, clocked(label, getattr(owner, name)))
    arguments = [str(folder), "--solutions", str(ROOT / "solutions"), "-q", "--jobs", str(jobs), "--no-cache",
                 "--out", str(scratch / "timed")]
    started = time.perf_counter()
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        try:
            grade.main(arguments, prog_name="grade", standalone_mode=False)
        except SystemExit:
            pass
    total = time.perf_counter() - started
    print(f"grader process, clocked stages, {size} notebooks: {total:.2f} s + {imports:.2f} s of imports before "
          f"({1000 * total / size:.2f} ms per submission, wall)")
    for label, seconds in spent.items():
        print(f"  {label:48s} {1000 * seconds / size:7.2f} ms  {100 * seconds / total:5.1f} %")
    rest = total - sum(spent.values())
    print(f"  {'rest (loading, summary, terminal, set-up)':48s} {1000 * rest / size:7.2f} ms  {100 * rest / total:5.1f} %")


def profile_parent(folder: Path, scratch: Path, jobs: int, size: int) -> None:
    """cProfile `grade` in this process; print each stage's ms per submission and share of the run."""
    started = time.perf_counter()
    from grader.cli import grade
    imports = time.perf_counter() - started
    profiler = cProfile.Profile()
    arguments = [str(folder), "--solutions", str(ROOT / "solutions"), "-q", "--jobs", str(jobs), "--no-cache",
                 "--out", str(scratch / "profiled")]
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        profiler.enable()
        try:
            grade.main(arguments, prog_name="grade", standalone_mode=False)
        except SystemExit:
            pass
        profiler.disable()
    stats = pstats.Stats(profiler)
    total = max(row[3] for row in stats.stats.values())  # the outermost call's inclusive time
    print(f"grader process, cProfile, {size} notebooks: {total:.2f} s profiled + {imports:.2f} s of imports "
          f"before ({1000 * total / size:.2f} ms per submission)")
    counted = 0.0
    for label, functions in PARENT_STAGES:
        seconds = sum(row[3] for (path, _, name), row in stats.stats.items()
                      if any(path.endswith(end) and name == want for end, want in functions))
        counted += seconds
        print(f"  {label:42s} {1000 * seconds / size:7.2f} ms  {100 * seconds / total:5.1f} %")
    print(f"  {'rest (loading, summary, terminal, set-up)':42s} {1000 * (total - counted) / size:7.2f} ms  "
          f"{100 * (total - counted) / total:5.1f} %")
    listing = io.StringIO()
    pstats.Stats(profiler, stream=listing).sort_stats("tottime").print_stats(25)
    print("  top functions by own time:")
    for line in listing.getvalue().splitlines():
        if line.strip() and line.lstrip()[0].isdigit():
            print("   ", line.strip()[:150])


# Sandbox-side stages: (label, (file suffix, function) whose inclusive time is the stage).
SERVER_STAGES: list[tuple[str, list[tuple[str, str]]]] = [
    ("waiting for a job (protocol.read)", [("grader/sandbox/protocol.py", "read"), ("grader/sandbox/protocol.py", "read_into")]),
    ("run_job, whole", [("grader/sandbox/server.py", "run_job")]),
    ("  scratch set-up (mkdtemp, mkdir, chown, chmod, pipe)", [
        ("tempfile.py", "mkdtemp"), ("~", "<built-in method posix.mkdir>"), ("~", "<built-in method posix.chown>"),
        ("~", "<built-in method posix.chmod>"), ("~", "<built-in method posix.pipe>")]),
    ("  fork", [("~", "<built-in method posix.fork>")]),
    ("  waiting for the child's result (_read_result)", [("grader/sandbox/server.py", "_read_result")]),
    ("  reaping the child (process.finish)", [("grader/sandbox/process.py", "finish")]),
    ("  output excerpts", [("grader/sandbox/server.py", "_excerpt")]),
    ("  scratch removal (process.remove_tree)", [("grader/sandbox/process.py", "remove_tree")]),
    ("sending the reply (_send)", [("grader/sandbox/server.py", "_send")]),
]
CHILD_STAGES: list[tuple[str, list[tuple[str, str]]]] = [
    ("resource limits (limits.apply_in_child)", [("grader/sandbox/limits.py", "apply_in_child")]),
    ("sandbox layers (layers.apply)", [("grader/sandbox/layers.py", "apply")]),
    ("child.run, whole", [("grader/sandbox/child.py", "run")]),
    ("  cells: parse (source.parse_cell)", [("grader/sandbox/source.py", "parse_cell")]),
    ("  cells: instrument (capture.instrument)", [("grader/capture.py", "instrument")]),
    ("  cells: all (_run_cell, exec included)", [("grader/sandbox/child.py", "_run_cell")]),
    ("  calls with capture (child._call)", [("grader/sandbox/child.py", "_call")]),
    ("  encoding the values (Encoder.payload)", [("grader/values.py", "payload")]),
]


def _print_stages(stats: pstats.Stats, stages, count: int, total: float) -> None:
    for label, functions in stages:
        seconds = sum(row[3] for (path, _, name), row in stats.stats.items()
                      if any(path.endswith(end) and name == want for end, want in functions))
        print(f"  {label:58s} {1000 * seconds / count:7.2f} ms  {100 * seconds / total:5.1f} %")


def sandbox_breakdown(dumps: Path, server_stderr: Path, size: int) -> None:
    """Summarise what the scratch branch's profiling hook left: one dump per child, one per server."""
    children = sorted(dumps.glob("*.prof"))
    if children:
        stats = pstats.Stats(*[str(path) for path in children])
        total = sum(row[3] for (path, _, name), row in stats.stats.items()
                    if path.endswith("grader/sandbox/child.py") and name == "run")
        total += sum(row[3] for (path, _, name), row in stats.stats.items()
                     if name in ("apply_in_child", "apply") and "grader/sandbox/" in path)
        print(f"sandbox children, cProfile, {len(children)} children (from after the fork to the result document):")
        _print_stages(stats, CHILD_STAGES, len(children), total)
    servers = []
    for line in server_stderr.read_text(errors="replace").splitlines() if server_stderr.exists() else []:
        if line.startswith("GRADER-SERVER-PROFILE "):
            path = dumps / f"server-{len(servers)}.pstats"
            path.write_bytes(base64.b64decode(line.split(" ", 1)[1]))
            servers.append(str(path))
    if servers:
        stats = pstats.Stats(*servers)
        total = max(row[3] for row in stats.stats.values())
        print(f"fork servers, cProfile, {len(servers)} servers, per submission of {size}:")
        _print_stages(stats, SERVER_STAGES, size, total * len(servers))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=400)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--cprofile", action="store_true", help="cProfile the grader process instead of clocking stages")
    parser.add_argument("--sandbox-dumps", type=Path, help="only summarise the dumps of the scratch branch's hook "
                        "(a folder of child .prof files; --server-stderr: the grade run's stderr)")
    parser.add_argument("--server-stderr", type=Path, default=Path("/dev/null"))
    options = parser.parse_args()
    if options.sandbox_dumps is not None:
        sandbox_breakdown(options.sandbox_dumps, options.server_stderr, options.size)
        return
    with tempfile.TemporaryDirectory(prefix="profile-class-") as scratch_name:
        scratch = Path(scratch_name)
        folder = scratch / "class"
        synthetic.build_class(folder, options.size)
        os.environ.setdefault("PYTHONPATH", str(ROOT))
        if options.cprofile:
            profile_parent(folder, scratch, options.jobs, options.size)
        else:
            time_parent(folder, scratch, options.jobs, options.size)


if __name__ == "__main__":
    main()
