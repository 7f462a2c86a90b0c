"""Check that two source trees of the grader give the same grades: every example and a synthetic class.

    python benchmarks/same_verdicts.py BEFORE_TREE AFTER_TREE [--size 300]

Each tree is a checkout of the repository (e.g. `git worktree add` or `git archive | tar -x` of a
commit). Both grade every folder of examples/ and a synthetic class (benchmarks/synthetic.py)
with `grade --json - --no-cache`, each with its own tree first on PYTHONPATH, and the JSON reports
are compared whole (verdicts, scores, messages, diagnoses, carried-forward flags): a change meant
only to make grading faster must leave them identical. Prints the differences and exits 1 if any.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))

import synthetic  # noqa: E402


def grade(tree: Path, target: Path, solutions: Path) -> dict:
    """The JSON report of `grade` run from `tree` on `target`."""
    done = subprocess.run([sys.executable, "-m", "grader", str(target), "--solutions", str(solutions),
                           "--json", "-", "--no-cache", "-q", "--jobs", "2"],
                          env={**os.environ, "PYTHONPATH": str(tree)}, capture_output=True, text=True, check=False,
                          cwd=ROOT)
    try:
        return json.loads(done.stdout)
    except json.JSONDecodeError:
        return {"exit": done.returncode, "stderr": done.stderr[-2000:]}


def differences(before: object, after: object, where: str = "") -> list[str]:
    """Where two JSON documents differ, as paths into them."""
    if type(before) is not type(after):
        return [f"{where}: {before!r} != {after!r}"]
    if isinstance(before, dict):
        keys = sorted(set(before) | set(after))
        return [line for key in keys for line in differences(before.get(key), after.get(key), f"{where}.{key}")]
    if isinstance(before, list):
        if len(before) != len(after):
            return [f"{where}: {len(before)} items != {len(after)}"]
        return [line for index, (one, other) in enumerate(zip(before, after))
                for line in differences(one, other, f"{where}[{index}]")]
    return [] if before == after else [f"{where}: {before!r} != {after!r}"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("before", type=Path)
    parser.add_argument("after", type=Path)
    parser.add_argument("--size", type=int, default=300, help="notebooks in the synthetic class [default: 300]")
    options = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="same-verdicts-") as scratch:
        synthetic_class = Path(scratch) / "class"
        synthetic.build_class(synthetic_class, options.size)
        targets = sorted(path for path in (ROOT / "examples").iterdir() if path.is_dir()) + [synthetic_class]
        found = 0
        for target in targets:
            reports = [grade(tree.resolve(), target, ROOT / "solutions") for tree in (options.before, options.after)]
            lines = differences(*reports)
            count = sum(len(report.get("submissions", [])) for report in reports[:1] if isinstance(report, dict))
            if not count:
                lines.append("no submissions graded (grade failed)")
            print(f"{target.name}: {count} submissions, {'same' if not lines else f'{len(lines)} differences'}")
            for line in lines[:20]:
                print(f"  {line}")
            found += len(lines)
    sys.exit(1 if found else 0)


if __name__ == "__main__":
    main()
