"""A re-grade served wholly from the cache loads neither numpy, the judge nor the sandbox, and runs no reference
notebook."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from tests.notebooks import SOLUTIONS, reference_body, student_notebook, write

# Runs `grade` as its console script would and reports, at exit, which heavy modules the process loaded and how
# many times each notebook file was read.
_SCRIPT = """
import collections, json, sys
from grader import cli, notebook
reads = collections.Counter()
read_bytes = notebook.read_bytes
def counted(path, *args, **kwargs):
    reads[str(path)] += 1
    return read_bytes(path, *args, **kwargs)
notebook.read_bytes = counted
try:
    cli.grade.main(sys.argv[1:], prog_name="grade", standalone_mode=False)
finally:
    loaded = {name: name in sys.modules for name in ("numpy", "grader.judge", "grader.assignment.cases",
                                                     "grader.autograder", "grader.sandbox.client")}
    print("LOADED " + json.dumps(loaded), file=sys.stderr)
    print("READS " + json.dumps(reads), file=sys.stderr)
"""


def _run(*arguments: str) -> tuple[dict, dict, dict]:
    """The JSON report, the heavy modules loaded, and how many times each student notebook was read (the
    solutions' own notebooks, read to know the assignments, left out)."""
    done = subprocess.run([sys.executable, "-c", _SCRIPT, *arguments, "--json", "-", "-q"], capture_output=True,
                          text=True, timeout=120, env={**os.environ, "GRADER_SEED": ""})
    assert done.returncode == 0, done.stderr
    facts = {kind: json.loads(line.removeprefix(f"{kind} ")) for line in done.stderr.splitlines()
             for kind in ("LOADED", "READS") if line.startswith(f"{kind} ")}
    reads = {path: count for path, count in facts["READS"].items() if not path.startswith(str(SOLUTIONS))}
    return json.loads(done.stdout), facts["LOADED"], reads


def _grade(*arguments: str) -> tuple[dict, dict]:
    report, loaded, _ = _run(*arguments)
    return report, loaded


def test_a_regrade_from_the_cache_loads_no_numpy_and_runs_no_reference(tmp_path):
    """batch.Grader, assignment.Assignment.reference, grader.assignment, session: a class whose every grade is in the
    cache is re-graded without importing numpy, the judge or the cases (numpy is what the reference notebook and
    the cases need), with the same report; a class with one new notebook loads them."""
    folder = tmp_path / "class"
    for name, body in (("alice", reference_body()), ("bob", reference_body(error="output_layer_out - target"))):
        write(student_notebook(body), folder / name / "backward_pass.ipynb")
    common = [str(folder), "--solutions", str(SOLUTIONS), "--cache-dir", str(tmp_path / "cache"), "--jobs", "1"]
    first, loaded_first = _grade(*common)
    again, loaded_again = _grade(*common)
    # Gradescope's autograder is loaded by its own commands only; the sandbox's client (subprocess, the layers, the
    # pipeline) by a run that starts a fork server.
    assert loaded_first == {"numpy": True, "grader.judge": True, "grader.assignment.cases": True,
                            "grader.autograder": False, "grader.sandbox.client": True}
    assert loaded_again == {"numpy": False, "grader.judge": False, "grader.assignment.cases": False,
                            "grader.autograder": False, "grader.sandbox.client": False}
    assert again["submissions"] == first["submissions"]
    assert [row["score"] for row in again["submissions"]] == [10.0, 9.0]
    write(student_notebook(reference_body()), folder / "carol" / "backward_pass.ipynb")
    third, loaded_third = _grade(*common)
    assert loaded_third["numpy"] and [row["score"] for row in third["submissions"]] == [10.0, 9.0, 10.0]


def test_a_regrade_from_the_cache_reads_each_notebook_once(tmp_path):
    """session.Group.read, batch.Grader.grade_all: routing reads every notebook (to tell its assignment) and hashes
    its bytes; a grade kept for those bytes is served without reading the file a second time. A student who handed
    in two notebooks (the graded one's grade notes the other: its key holds the note) and the one not graded are
    served so too, and a notebook changed since the cache was filled is read again and graded afresh."""
    folder = tmp_path / "class"
    for name, body in (("alice", reference_body()), ("bob", reference_body(error="output_layer_out - target")),
                       ("dana", reference_body(delta_w_i_h="np.outer(x, hidden_error_term)"))):
        write(student_notebook(body), folder / name / "backward_pass.ipynb")
    write(student_notebook(reference_body()), folder / "dana" / "backward_pass-Copy1.ipynb")
    common = [str(folder), "--solutions", str(SOLUTIONS), "--cache-dir", str(tmp_path / "cache"), "--jobs", "1"]
    first, _, reads_first = _run(*common)
    files = sorted(str(path) for path in folder.rglob("*.ipynb"))
    assert sorted(reads_first) == files
    # Graded: read to route it, then to grade it. The copy not graded is refused from routing's read.
    assert reads_first == {path: 1 if path.endswith("-Copy1.ipynb") else 2 for path in files}
    again, _, reads_again = _run(*common)
    assert reads_again == {path: 1 for path in files}
    assert again["submissions"] == first["submissions"]
    scores = {row["student"]: row["score"] for row in again["submissions"] if row["status"] == "graded"}
    assert scores == {"alice": 10.0, "bob": 9.0, "dana": 9.0}
    assert any("handed in 2 notebooks" in message for row in again["submissions"] if row["student"] == "dana"
               for message in row["messages"])
    write(student_notebook(reference_body()), folder / "bob" / "backward_pass.ipynb")
    third, _, reads_third = _run(*common)
    assert reads_third[str(folder / "bob" / "backward_pass.ipynb")] == 2
    assert {path: count for path, count in reads_third.items() if "bob" not in path} == {
        path: 1 for path in files if "bob" not in path}
    assert {row["student"]: row["score"] for row in third["submissions"] if row["status"] == "graded"} == {
        "alice": 10.0, "bob": 10.0, "dana": 9.0}


def test_a_notebook_changed_after_routing_read_it_is_looked_up_by_its_new_bytes(tmp_path):
    """batch.Grader.grade_all: bytes routing hashed that no grade is known for (the file was replaced since) are no
    answer: the file is read, and a grade known for the bytes read then is the one given, under their digest."""
    import hashlib

    from grader import assignment, batch
    from grader.intake import duplicates
    from grader.models import Submission

    path = write(student_notebook(reference_body()), tmp_path / "erin" / "backward_pass.ipynb")
    submission = Submission(path, str(path), "erin")
    now = duplicates.digest(path.read_bytes(), submission)
    asked: list[str] = []
    loaded = assignment.load(SOLUTIONS, "backward_pass")
    grade = batch.prepare(batch.Loaded(submission, b"", "stand-in", now), loaded.rubric, loaded.defaults.limits, ())

    def known(each: Submission, digest: str):
        asked.append(digest)
        return (grade, "cached") if digest == now else None

    stale = hashlib.sha256(b"the bytes routing read").digest()
    with batch.Grader(loaded, loaded.defaults.seed, 1) as grader:
        outcome, = grader.grade_all([submission], known, {submission.given: stale})
    assert asked == [stale.hex(), now]
    assert (outcome.grade, outcome.digest, outcome.earlier) == (grade, now, "cached")
