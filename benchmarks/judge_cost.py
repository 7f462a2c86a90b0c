"""Benchmark: what judging a submission costs the grader process, when documents repeat and when they do not.

    python benchmarks/judge_cost.py [--size 400] [--rounds 3]

The class of benchmarks/class_benchmark.py (benchmarks/synthetic.py) is run once through the real
sandbox, and every reply kept. Its notebooks differ only in comments and spacing, so its 392
sandboxed runs send a handful of distinct documents: the judge finds most of them again by the
digest of their bytes (judge.verdicts.Remembered) and parses and judges each only once. A real
class does not repeat itself so neatly: students who compute the same formula in another order
get other last bits. So the same replies are judged three ways, each by a fresh grader, in the
same process, round after round:

- as the sandbox sent them (the class benchmark's case);
- made distinct: every returned or captured number of every document moved in its last bits
  (a relative change of about 1e-13, far inside the rubric's tolerance), so that no document and
  no run's evidence is found again and every one is parsed and judged afresh;
- the floor's verdict on the distinct documents (benchmarks/bare_fork_floor.py): each case's
  returned numbers decoded and compared with the reference's by `numpy.allclose`, no more.

It prints milliseconds of the grader's CPU per submission for each and its ratio to the floor's
verdict of the same round (medians of the rounds). Compare ratios, not times: the machine may be
busy, and its speed drifts.
"""

from __future__ import annotations

import argparse
import base64
import dataclasses
import hashlib
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))

import synthetic  # noqa: E402

from grader import assignment, batch, values  # noqa: E402
from grader.assignment import cases as case_builder  # noqa: E402


def graded_replies(folder: Path, size: int) -> tuple[assignment.Assignment, list[tuple]]:
    """(the assignment, [(submission, reply, job)] of every sandboxed notebook), from one run of the class."""
    synthetic.build_class(folder, size)
    loaded = assignment.load(ROOT / "solutions", "backward_pass")
    kept: list[tuple] = []
    grader = batch.Grader(loaded, loaded.defaults.seed, 2)
    original = grader.judge

    def keeping(submission, reply, job=None):
        if job is not None and reply.document is not None:
            kept.append((submission, reply, job))
        return original(submission, reply, job)

    grader.judge = keeping
    with grader:
        for _ in grader.grade_all(batch.find_submissions([folder], loaded.layout.notebook)):
            pass
    return loaded, kept


def made_distinct(replies: list[tuple], seed: int = 0) -> list[tuple]:
    """The replies with every number of every document moved in its last bits, and the digest of the new bytes."""
    rng = np.random.default_rng(seed)
    distinct = []
    for submission, reply, job in replies:
        document = dict(reply.document)
        if isinstance(document.get("f8"), str):
            numbers = np.frombuffer(base64.b64decode(document["f8"]), dtype="<f8").copy()
            numbers *= 1 + rng.uniform(-1e-13, 1e-13, numbers.size)
            document["f8"] = base64.b64encode(numbers.tobytes()).decode("ascii")
        digest = hashlib.sha256(repr(sorted(document.items(), key=lambda item: item[0])).encode()).digest()
        distinct.append((submission, dataclasses.replace(reply, document=document, digest=digest), job))
    return distinct


def judge_seconds(loaded: assignment.Assignment, replies: list[tuple]) -> float:
    """CPU seconds a fresh grader spends judging `replies` in order (its cases, feedback and source rules made first)."""
    grader = batch.Grader(loaded, loaded.defaults.seed, 1)
    _ = grader.cases, grader.feedback
    grader.judge(*replies[0])  # the first judgement's one-off work (caches, lazy imports) is not the class's
    started = time.process_time()
    for submission, reply, job in replies:
        grader.judge(submission, reply, job)
    return time.process_time() - started


def floor_seconds(loaded: assignment.Assignment, replies: list[tuple]) -> float:
    """CPU seconds the floor's verdict takes on the same documents: returned numbers decoded, `np.allclose` per case."""
    built = case_builder.build(loaded, loaded.defaults.seed)
    expected = [np.concatenate([np.asarray(case.expected[name], dtype=np.float64).ravel()
                                for name in loaded.rubric.returns]) for case in built]
    started = time.process_time()
    for _, reply, _ in replies:
        document = reply.document
        decoder = values.Decoder(document["f8"])
        for outcome, reference in zip(document.get("cases", []), expected):
            returned = outcome.get("returned") or {}
            got = [decoder.decode(item) for item in returned.get("values", [])]
            arrays = [item for item in got if isinstance(item, np.ndarray)]
            flat = np.concatenate([item.ravel() for item in arrays]) if arrays else np.empty(0)
            _ = flat.shape == reference.shape and bool(np.allclose(flat, reference, rtol=1e-6, atol=1e-9))
    return time.process_time() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=400, help="notebooks in the class [default: 400]")
    parser.add_argument("--rounds", type=int, default=5, help="rounds of the three measurements [default: 5]")
    options = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="judge-cost-") as scratch:
        loaded, replies = graded_replies(Path(scratch) / "class", options.size)
    distinct = made_distinct(replies)
    documents = len({reply.digest for _, reply, _ in replies})
    print(f"class: {options.size} notebooks, {len(replies)} sandboxed replies, {documents} distinct documents")
    rounds: list[dict[str, float]] = []
    for _ in range(options.rounds):
        rounds.append({"as sent": judge_seconds(loaded, replies), "made distinct": judge_seconds(loaded, distinct),
                       "floor's verdict": floor_seconds(loaded, distinct)})
    for label in rounds[0]:
        each = statistics.median(1000 * measured[label] / len(replies) for measured in rounds)
        ratio = statistics.median(measured[label] / measured["floor's verdict"] for measured in rounds)
        print(f"{label:16s} {each:6.2f} ms of CPU per submission  ({ratio:5.1f}x the floor's verdict, median of the rounds)")

if __name__ == "__main__":
    main()
