"""Benchmark: grade a synthetic class of 1,000 notebooks with the full sandbox, through the real CLI.

    python benchmarks/class_benchmark.py [--size 1000] [--jobs N] [--sample 10]

Prints submissions/s of a cold run (every notebook runs in a forked sandbox child), of a rerun
served by the content cache, the peak RSS of the grader process and of its largest child, and,
in the same run, a baseline: a sample of the same notebooks executed top to bottom in a Jupyter
kernel through nbclient (as nbgrader and otter do), with the ratio. Needs the `bench` extra
(`pip install -e '.[bench]'`). The machine is shared and noisy: compare the ratios of one run.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import resource
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))

import synthetic  # noqa: E402

from grader.cli import grade  # noqa: E402


def run_cli(arguments: list[str]) -> tuple[float, str]:
    """Seconds taken by `grade ARGUMENTS` in this process (its output captured), and its stderr."""
    out, err = io.StringIO(), io.StringIO()
    started = time.perf_counter()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        grade.main(arguments, prog_name="grade", standalone_mode=False)
    return time.perf_counter() - started, err.getvalue()


def kernel_baseline(paths: list[Path], timeout: float) -> float:
    """Seconds to execute each notebook top to bottom in a fresh Jupyter kernel, one after another."""
    import nbclient
    import nbformat

    started = time.perf_counter()
    for path in paths:
        try:
            book = nbformat.read(path, as_version=4)
        except Exception:  # an unreadable notebook fails fast there too
            continue
        client = nbclient.NotebookClient(book, timeout=timeout, kernel_name="python3", allow_errors=True)
        try:
            client.execute()
        except Exception:
            pass
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=1000)
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--sample", type=int, default=10, help="notebooks run in a Jupyter kernel for the baseline")
    options = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="class-benchmark-") as scratch:
        folder = Path(scratch) / "submissions"
        students = synthetic.build_class(folder, options.size)
        kinds = Counter(student.kind.split("_")[0] for student in students)
        print(f"class: {options.size} notebooks ({', '.join(f'{n} {k}' for k, n in kinds.most_common())}), "
              f"--jobs {options.jobs}, {os.cpu_count()} CPUs")
        common = [str(folder), "--solutions", str(ROOT / "solutions"), "-q", "--jobs", str(options.jobs),
                  "--cache-dir", str(Path(scratch) / "cache")]
        cold, report = run_cli(common + ["--out", str(Path(scratch) / "cold")])
        print(f"sandboxed, cold:   {options.size / cold:7.1f} submissions/s ({cold:.2f} s)  [{report.splitlines()[-2]}]")
        warm, report = run_cli(common + ["--out", str(Path(scratch) / "warm")])
        print(f"from the cache:    {options.size / warm:7.1f} submissions/s ({warm:.2f} s)  [{report.splitlines()[-2]}]")
        own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
        print(f"peak RSS:          grader process {own:.0f} MB, largest fork server or child {children:.0f} MB")
        step = max(1, options.size // options.sample)
        sample = [folder / s.name / "backward_pass.ipynb" for s in students[::step][: options.sample]]
        baseline = kernel_baseline(sample, timeout=10)
        kernel_rate = len(sample) / baseline
        print(f"Jupyter kernel:    {kernel_rate:7.2f} submissions/s ({baseline / len(sample):.2f} s each, "
              f"{len(sample)} notebooks through nbclient)")
        print(f"ratio:             {options.size / cold / kernel_rate:7.0f}x the kernel baseline (cold), "
              f"{options.size / warm / kernel_rate:.0f}x from the cache")


if __name__ == "__main__":
    main()
