"""A re-grade served wholly from the cache loads neither numpy, the judge nor the sandbox, and runs no reference
notebook."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from tests.notebooks import SOLUTIONS, reference_body, student_notebook, write

# Runs `grade` as its console script would and reports, at exit, which heavy modules the process loaded.
_SCRIPT = """
import json, sys
from grader import cli
try:
    cli.grade.main(sys.argv[1:], prog_name="grade", standalone_mode=False)
finally:
    loaded = {name: name in sys.modules for name in ("numpy", "grader.judge", "grader.assignment.cases",
                                                     "grader.autograder", "grader.sandbox.client")}
    print("LOADED " + json.dumps(loaded), file=sys.stderr)
"""


def _grade(*arguments: str) -> tuple[dict, dict]:
    done = subprocess.run([sys.executable, "-c", _SCRIPT, *arguments, "--json", "-", "-q"], capture_output=True,
                          text=True, timeout=120, env={**os.environ, "GRADER_SEED": ""})
    assert done.returncode == 0, done.stderr
    line = next(line for line in done.stderr.splitlines() if line.startswith("LOADED "))
    return json.loads(done.stdout), json.loads(line.removeprefix("LOADED "))


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
