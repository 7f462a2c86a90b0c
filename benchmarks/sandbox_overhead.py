"""What one submission costs the sandbox side when the student's code costs nothing, against the bare-fork floor.

    python benchmarks/sandbox_overhead.py [--size 200] [--jobs 2] [--rounds 3]

A class of notebooks whose graded function returns constants at once (a different constant in
each, so no two replies are alike) is graded by `grade --no-cache` and by the bare-fork floor
(benchmarks/bare_fork_floor.py), alternately, each in a fresh process. For each run it prints the
CPU time (user + system) and the minor page faults of the process tree per submission, split
for `grade` into the grader process and its fork servers with their children. With nothing to
compute, what is left is the per-job cost of each harness: forking, the sandbox layers, the
child's set-up and capture, copying the pages a child writes, the reply, and (for `grade`) the
judging. Medians of the rounds are printed; the machine may be shared, so compare within a run.
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]
HERE = Path(__file__).resolve().parent

# Runs the CLI (or the floor) in this fresh interpreter and prints the rusage of itself and of its reaped children.
_MEASURED = """
import json, resource, runpy, sys
kind, arguments = sys.argv[1], json.loads(sys.argv[2])
if kind == "grade":
    from grader import cli
    try:
        cli.grade.main(arguments, prog_name="grade", standalone_mode=False)
    except SystemExit:
        pass
else:
    sys.argv = [arguments[0], *arguments[1:]]
    runpy.run_path(arguments[0], run_name="__main__")
own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
print("RUSAGE " + json.dumps({"self_cpu": own.ru_utime + own.ru_stime, "self_faults": own.ru_minflt,
                              "children_cpu": children.ru_utime + children.ru_stime,
                              "children_faults": children.ru_minflt}), file=sys.stderr)
"""

SIGNATURE = "def backward_pass(x, target, learnrate, hidden_layer_out, output_layer_out, weights_hidden_to_output):"


def build_class(folder: Path, size: int) -> list[Path]:
    paths = []
    for number in range(size):
        book = nbformat.v4.new_notebook()
        book.cells = [nbformat.v4.new_code_cell(
            f"import numpy as np\n\n{SIGNATURE}\n    return np.zeros(2) + {number}, np.zeros((3, 2))\n")]
        path = folder / f"s{number:05d}" / "backward_pass.ipynb"
        path.parent.mkdir(parents=True)
        nbformat.write(book, path)
        paths.append(path)
    return paths


def floor_spec(paths: list[Path], jobs: int, spec: Path) -> None:
    """The floor's input, as benchmarks/class_benchmark.py writes it."""
    import numpy as np

    from grader import assignment
    from grader.assignment import cases as case_builder

    loaded = assignment.load(ROOT / "solutions", "backward_pass")
    built = case_builder.build(loaded, loaded.defaults.seed)
    expected = [np.concatenate([np.asarray(case.expected[name], dtype=np.float64).ravel()
                                for name in loaded.rubric.returns]) for case in built]
    spec.write_bytes(pickle.dumps({
        "paths": [str(path) for path in paths], "function": loaded.rubric.function,
        "cases": [case_builder.copy_arguments(case.arguments) for case in built], "expected": expected,
        "timeout": loaded.defaults.limits.timeout, "statement": loaded.defaults.limits.statement, "jobs": jobs}))


def measure(kind: str, arguments: list[str]) -> dict:
    done = subprocess.run([sys.executable, "-c", _MEASURED, kind, json.dumps(arguments)], capture_output=True,
                          text=True, check=False, cwd=ROOT)
    line = next((line for line in done.stderr.splitlines() if line.startswith("RUSAGE ")), None)
    if line is None:
        raise SystemExit(f"{kind} failed:\n{done.stderr[-2000:]}")
    return json.loads(line.removeprefix("RUSAGE "))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=200)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=3)
    options = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="sandbox-overhead-") as scratch_name:
        scratch = Path(scratch_name)
        paths = build_class(scratch / "class", options.size)
        spec = scratch / "floor.pickle"
        floor_spec(paths, options.jobs, spec)
        grade_arguments = [str(scratch / "class"), "--solutions", str(ROOT / "solutions"), "--assignment",
                           "backward_pass", "--no-cache", "-q", "--jobs", str(options.jobs)]
        rows: dict[str, list[dict]] = {"grade": [], "floor": []}
        for number in range(options.rounds):
            order = ("grade", "floor") if number % 2 == 0 else ("floor", "grade")
            for kind in order:
                arguments = grade_arguments if kind == "grade" else [str(HERE / "bare_fork_floor.py"), str(spec)]
                rows[kind].append(measure(kind, arguments))
        size = options.size

        def per(kind: str, key: str, scale: float = 1.0) -> float:
            return statistics.median(row[key] for row in rows[kind]) * scale / size

        print(f"{size} notebooks returning constants, --jobs {options.jobs}, {options.rounds} rounds, "
              f"load {os.getloadavg()[0]:.1f}; per submission, medians:")
        print(f"  floor:  {per('floor', 'self_cpu', 1000) + per('floor', 'children_cpu', 1000):6.2f} ms CPU, "
              f"{per('floor', 'self_faults') + per('floor', 'children_faults'):6.0f} page faults (parent and children)")
        print(f"  grade:  {per('grade', 'children_cpu', 1000):6.2f} ms CPU, {per('grade', 'children_faults'):6.0f} page "
              f"faults in the fork servers and children; {per('grade', 'self_cpu', 1000):6.2f} ms CPU in the grader")


if __name__ == "__main__":
    main()
