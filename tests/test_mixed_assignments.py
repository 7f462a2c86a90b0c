"""Several assignments in one solutions folder: each notebook graded against its own, in one run."""

from __future__ import annotations

import copy
import csv
import json
import shutil
import textwrap
from pathlib import Path

import nbformat
import pytest
from click.testing import CliRunner
from nbformat import v4

from grader.cli import gradescope_autograder, make_stub
from tests.conftest import CLEAN_ENV, invoke_grade
from tests.notebooks import REFERENCE, SIGNATURE, SOLUTIONS, STUB, reference_body, student_notebook, write

FORWARD_RUBRIC = """
[assignment]
title = "Implementing a Forward Pass"
notebook = "forward_pass.ipynb"
function = "forward_pass"
returns = ["hidden_layer_out", "output_layer_out"]

[cases]
module = "cases.py"
seed = 7
hidden = 6

[tolerance]
rtol = 1e-3
atol = 1e-7

[[steps]]
name = "hidden_layer_in"
points = 2
hint = "Multiply the inputs by the input-to-hidden weights."

[[steps]]
name = "hidden_layer_out"
points = 3
hint = "Apply the sigmoid to the hidden layer's input."

[[steps]]
name = "output_layer_in"
points = 2
hint = "Multiply the hidden outputs by the hidden-to-output weights."

[[steps]]
name = "output_layer_out"
points = 3
hint = "Apply the sigmoid to the output layer's input."
"""

FORWARD_CASES = '''
import numpy as np


def public_inputs():
    return {"x": np.array([0.5, 0.1, -0.2]),
            "weights_input_to_hidden": np.array([[0.5, -0.6], [0.1, -0.2], [0.1, 0.7]]),
            "weights_hidden_to_output": np.array([0.1, -0.3])}


def arguments(reference, inputs):
    return dict(inputs)


def hidden_inputs(rng, count, reference):
    cases = []
    for number in range(count):
        n_input, n_hidden = 1 + number % 4, 1 + (number * 3) % 5
        cases.append((f"{n_input} inputs, {n_hidden} hidden units",
                      {"x": rng.uniform(-1, 1, n_input),
                       "weights_input_to_hidden": rng.normal(0, 1, (n_input, n_hidden)),
                       "weights_hidden_to_output": rng.normal(0, 1, n_hidden)}))
    return cases
'''

FORWARD_FUNCTION = '''
def forward_pass(x, weights_input_to_hidden, weights_hidden_to_output):
    """
    Make a forward pass through the network
    """
    # TODO: Calculate the input to the hidden layer.
    hidden_layer_in = np.dot(x, weights_input_to_hidden)  # SOLUTION
    # TODO: Calculate the hidden layer output.
    hidden_layer_out = sigmoid(hidden_layer_in)  # SOLUTION

    # TODO: Calculate the input to the output layer.
    output_layer_in = np.dot(hidden_layer_out, weights_hidden_to_output)  # SOLUTION
    # TODO: Calculate the output of the network.
    output_layer_out = sigmoid(output_layer_in)  # SOLUTION

    return hidden_layer_out, output_layer_out
'''

FORWARD_DEMO = """
x = np.array([0.5, 0.1, -0.2])
weights_input_to_hidden = np.array([[0.5, -0.6], [0.1, -0.2], [0.1, 0.7]])
weights_hidden_to_output = np.array([0.1, -0.3])
hidden_layer_out, output_layer_out = forward_pass(x, weights_input_to_hidden, weights_hidden_to_output)
print(output_layer_out)
"""


def forward_reference() -> nbformat.NotebookNode:
    """The forward-pass exercise as the course writes it, answers marked `# SOLUTION`."""
    node = v4.new_notebook(cells=[
        v4.new_markdown_cell("# Implementing a Forward Pass"),
        v4.new_code_cell("import numpy as np"),
        v4.new_code_cell('def sigmoid(x):\n    """\n    Calculate sigmoid\n    """\n    return 1 / (1 + np.exp(-x))'),
        v4.new_code_cell(textwrap.dedent(FORWARD_FUNCTION).strip()),
        v4.new_code_cell(FORWARD_DEMO.strip()),
    ])
    node.metadata["kernelspec"] = {"display_name": "Python 3", "language": "python", "name": "python3"}
    return node


@pytest.fixture(scope="module")
def course(tmp_path_factory) -> tuple[Path, Path]:
    """(solutions, assignments): backward_pass as shipped plus forward_pass, stubs made by `grade-stub`."""
    root = tmp_path_factory.mktemp("course")
    solutions = root / "solutions"
    shutil.copytree(SOLUTIONS / "backward_pass", solutions / "backward_pass")
    forward = solutions / "forward_pass"
    forward.mkdir()
    (forward / "rubric.toml").write_text(FORWARD_RUBRIC, encoding="utf-8")
    (forward / "cases.py").write_text(FORWARD_CASES, encoding="utf-8")
    write(forward_reference(), forward / "forward_pass.ipynb")
    result = CliRunner().invoke(make_stub, ["--solutions", str(solutions), "--assignments", str(root / "assignments")],
                                env=CLEAN_ENV)
    assert result.exit_code == 0, result.output
    return solutions, root / "assignments"


def without_metadata(path: Path, target: Path, assignment: str | None = None) -> Path:
    """A copy of the notebook at `path` with the grader's metadata dropped, or naming `assignment` instead."""
    node = nbformat.read(str(path), as_version=4)
    node.metadata.pop("backprop_grader", None)
    if assignment is not None:
        node.metadata["backprop_grader"] = {"assignment": assignment}
    return write(node, target)


def rows_by_student(doc: dict) -> dict[str, dict]:
    return {row["student"]: row for row in doc["submissions"]}


def test_a_class_mixing_two_assignments_is_graded_each_against_its_own(course, tmp_path):
    """Routing (grader/routing.py) by metadata, else by the graded function the notebook writes itself: every
    reference full marks and every stub zero against its own assignment, one run, one gradebook, a report each."""
    solutions, assignments = course
    folder = tmp_path / "class"
    folder.mkdir()
    shutil.copy(assignments / "backward_pass" / "backward_pass.ipynb", folder / "bp_stub.ipynb")
    shutil.copy(assignments / "forward_pass" / "forward_pass.ipynb", folder / "fp_stub.ipynb")
    without_metadata(REFERENCE, folder / "bp_reference.ipynb")
    without_metadata(solutions / "forward_pass" / "forward_pass.ipynb", folder / "fp_reference.ipynb")
    without_metadata(assignments / "backward_pass" / "backward_pass.ipynb", folder / "bp_bare_stub.ipynb")
    without_metadata(assignments / "forward_pass" / "forward_pass.ipynb", folder / "fp_bare_stub.ipynb")
    write(student_notebook(reference_body(error="output_layer_out - target")), folder / "bp_wrong.ipynb")
    # Unknown notebooks: one named after forward_pass's notebook joins it, an unreadable one the larger group.
    write(v4.new_notebook(cells=[v4.new_code_cell("import numpy as np")]), folder / "fp_empty" / "forward_pass.ipynb")
    (folder / "broken.ipynb").write_text("{", encoding="utf-8")
    out = tmp_path / "out"
    run = invoke_grade(folder, "--out", out, solutions=solutions)
    assert run.exit_code == 0, run.stderr
    rows = rows_by_student(run.doc)
    expected = {"bp_stub": ("backward_pass", 0), "bp_reference": ("backward_pass", 10), "bp_bare_stub": ("backward_pass", 0),
                "bp_wrong": ("backward_pass", 9), "fp_stub": ("forward_pass", 0), "fp_reference": ("forward_pass", 10),
                "fp_bare_stub": ("forward_pass", 0), "fp_empty": ("forward_pass", 0), "broken": ("backward_pass", 0)}
    assert {student: (row["assignment"], row["score"]) for student, row in rows.items()} == expected
    assert all(row["max_score"] == 10 for row in rows.values())
    statuses = {student: row["status"] for student, row in rows.items()}
    assert statuses.pop("broken") == "invalid" and statuses.pop("fp_empty") == "error"
    assert set(statuses.values()) == {"graded"}
    assert [step["name"] for step in rows["fp_reference"]["steps"]] == [
        "hidden_layer_in", "hidden_layer_out", "output_layer_in", "output_layer_out"]
    assert run.doc["assignment"] is None and run.doc["max_score"] is None
    assert [entry["name"] for entry in run.doc["assignments"]] == ["backward_pass", "forward_pass"]
    with open(out / "gradebook.csv", newline="", encoding="utf-8-sig") as stream:
        table = list(csv.DictReader(stream))
    assert {row["student"]: row["assignment"] for row in table} == {student: a for student, (a, _) in expected.items()}
    fp_row = next(row for row in table if row["student"] == "fp_reference")
    assert fp_row["hidden_layer_out"] == "3" and fp_row["delta_w_i_h"] == ""
    assert (out / "report-backward_pass.html").is_file() and (out / "report-forward_pass.html").is_file()
    assert not (out / "report.html").exists()
    assert "Implementing a Forward Pass" in (out / "report-forward_pass.html").read_text(encoding="utf-8")
    again = invoke_grade(folder, "--out", out, solutions=solutions)
    assert "0 run now, 9 resumed" in again.stderr
    assert again.doc == run.doc


@pytest.mark.parametrize("variant", ["stub metadata", "no metadata", "metadata names forward_pass"])
def test_a_backward_pass_notebook_graded_as_forward_pass_never_scores(course, tmp_path, variant):
    """The mismatch verdict (routing.plan with --assignment): the backward_pass notebook defines forward_pass as the
    stub gives it, which full-marked it before; now it is an error row, score 0, whatever its metadata says."""
    solutions, _ = course
    path = write(student_notebook(), tmp_path / "alice.ipynb")
    if variant != "stub metadata":
        without_metadata(path, path, "forward_pass" if variant == "metadata names forward_pass" else None)
    run = invoke_grade(path, "--assignment", "forward_pass", solutions=solutions)
    assert run.exit_code == 0, run.stderr
    row = run.submission("alice")
    assert (row["status"], row["score"], row["max_score"]) == ("error", 0, 10)
    assert row["messages"][0] == ("this notebook is for assignment backward_pass, not forward_pass: grade it with "
                                  "--assignment backward_pass or without --assignment")
    own = invoke_grade(path, solutions=solutions)
    assert own.submission("alice")["score"] == 10 and own.doc["assignment"] == "backward_pass"


def test_a_forward_pass_notebook_graded_as_backward_pass_never_scores(course, tmp_path):
    """The same verdict the other way round (routing rule 4: the only graded function it defines, as a copy)."""
    solutions, _ = course
    path = without_metadata(solutions / "forward_pass" / "forward_pass.ipynb", tmp_path / "bob.ipynb")
    row = invoke_grade(path, "--assignment", "backward_pass", solutions=solutions).submission("bob")
    assert (row["status"], row["score"]) == ("error", 0)
    assert row["messages"][0].startswith("this notebook is for assignment forward_pass, not backward_pass")
    own = invoke_grade(path, solutions=solutions)
    assert own.doc["assignment"] == "forward_pass" and own.submission("bob")["score"] == 10


@pytest.mark.parametrize("variant", ["backward_pass renamed", "backward_pass deleted", "forward_pass claims backward_pass"])
def test_a_notebook_whose_own_function_is_gone_is_not_credited_for_the_copy(course, tmp_path, variant):
    """Routing rule 3: when the only graded function left is a copy of given code, the metadata decides, so the
    copy never earns the other assignment's marks (backward_pass notebooks scored 10/10 as forward_pass)."""
    solutions, _ = course
    if variant == "forward_pass claims backward_pass":
        path = without_metadata(solutions / "forward_pass" / "forward_pass.ipynb", tmp_path / "bob.ipynb", "backward_pass")
    else:
        node = student_notebook(signature=SIGNATURE.replace("def backward_pass", "def backward_pass_v2"))
        if variant == "backward_pass deleted":
            node.cells = [cell for cell in node.cells if "def backward_pass" not in cell.source]
        path = write(node, tmp_path / "bob.ipynb")
    for extra in ([], ["--assignment", "backward_pass"]):
        run = invoke_grade(path, *extra, solutions=solutions)
        row = run.submission("bob")
        assert run.doc["assignment"] == "backward_pass" and (row["status"], row["score"]) == ("error", 0), row
    refused = invoke_grade(path, "--assignment", "forward_pass", solutions=solutions).submission("bob")
    assert refused["score"] == 0 and refused["messages"][0].startswith("this notebook is for assignment backward_pass")


def test_the_cache_keeps_each_assignment_apart(course, tmp_path):
    """The content cache key holds the assignment: a notebook graded against one is never served as the other's."""
    solutions, _ = course
    path = write(v4.new_notebook(cells=[v4.new_code_cell("import numpy as np")]), tmp_path / "empty.ipynb")
    cache = ["--cache-dir", tmp_path / "cache"]
    first = invoke_grade(path, "--assignment", "backward_pass", *cache, solutions=solutions)
    second = invoke_grade(path, "--assignment", "forward_pass", *cache, solutions=solutions)
    assert "0 from the cache" in second.stderr
    assert second.submission("empty")["steps"][0]["name"] == "hidden_layer_in"
    assert first.submission("empty")["steps"][0]["name"] == "error"
    assert "1 from the cache" in invoke_grade(path, "--assignment", "forward_pass", *cache, solutions=solutions).stderr


def test_a_remembered_identity_follows_the_notebook_and_the_solutions(course, tmp_path):
    """Routing's memo in the cache (routing.identify_remembered) is keyed by the digest of the notebook's bytes and
    the assignments' signatures, and a record it cannot trust is ignored: a notebook rewritten for the other
    assignment, the same bytes against solutions holding other assignments, or a tampered memo, route afresh."""
    solutions, _ = course
    cache = ["--cache-dir", tmp_path / "cache"]
    path = without_metadata(REFERENCE, tmp_path / "carol.ipynb")
    assert invoke_grade(path, *cache, solutions=solutions).doc["assignment"] == "backward_pass"
    forward_only = tmp_path / "forward_only"
    shutil.copytree(solutions / "forward_pass", forward_only / "forward_pass")
    # It defines forward_pass as the backward_pass stub gives it: alone, forward_pass is the only candidate.
    alone = invoke_grade(path, *cache, solutions=forward_only)
    assert alone.doc["assignment"] == "forward_pass" and alone.submission("carol")["status"] == "graded"
    memo = tmp_path / "cache" / "routes.jsonl"
    lines = [json.loads(line) for line in memo.read_text(encoding="utf-8").splitlines()]
    assert [line["grade"]["assignment"] for line in lines] == ["backward_pass", "forward_pass"]
    memo.write_text("".join(json.dumps({"key": line["key"], "grade": {"assignment": 7, "candidates": []}}) + "\n"
                            for line in lines), encoding="utf-8")
    without_metadata(solutions / "forward_pass" / "forward_pass.ipynb", path)
    rewritten = invoke_grade(path, *cache, solutions=solutions)
    assert rewritten.doc["assignment"] == "forward_pass" and rewritten.submission("carol")["score"] == 10
    without_metadata(REFERENCE, path)
    assert invoke_grade(path, *cache, solutions=solutions).doc["assignment"] == "backward_pass"


def test_several_assignments_with_the_same_function(tmp_path):
    """Three copies of backward_pass: the metadata tells them apart; a notebook without it cannot be told apart,
    so a run of only such notebooks asks for --assignment (exit 2), and --assignment grades it."""
    solutions = tmp_path / "solutions"
    for name in ("backward_pass", "bp_two", "bp_three"):
        shutil.copytree(SOLUTIONS / "backward_pass", solutions / name)
    bare = without_metadata(REFERENCE, tmp_path / "bare" / "carol.ipynb")
    refused = invoke_grade(bare, solutions=solutions)
    assert refused.exit_code == 2 and "cannot tell which assignment" in refused.stderr
    assert invoke_grade(bare, "--assignment", "bp_two", solutions=solutions).submission("carol")["score"] == 10
    write(student_notebook(), tmp_path / "tagged" / "dan.ipynb")
    shutil.copy(bare, tmp_path / "tagged" / "carol.ipynb")
    run = invoke_grade(tmp_path / "tagged", solutions=solutions)
    assert run.exit_code == 0 and run.doc["assignment"] == "backward_pass"
    assert {row["student"]: row["score"] for row in run.doc["submissions"]} == {"carol": 10, "dan": 10}
    stub = copy.deepcopy(nbformat.read(str(STUB), as_version=4))
    stub.metadata["backprop_grader"]["assignment"] = "bp_three"
    write(stub, tmp_path / "tagged" / "erin.ipynb")
    mixed = invoke_grade(tmp_path / "tagged", solutions=solutions)
    assert {row["student"]: row.get("assignment") for row in mixed.doc["submissions"]} == {
        "carol": "backward_pass", "dan": "backward_pass", "erin": "bp_three"}


@pytest.mark.usefixtures("python_prefix_modes")
def test_metadata_naming_an_assignment_not_held_here_is_refused(course, tmp_path):
    """Routing rule 1: with only forward_pass's solutions, a backward_pass notebook (whose given forward_pass the
    grader cannot tell from an answer) is refused by its metadata, in `grade` and in the Gradescope run."""
    solutions, _ = course
    only_forward = tmp_path / "solutions"
    shutil.copytree(solutions / "forward_pass", only_forward / "forward_pass")
    path = write(student_notebook(), tmp_path / "class" / "alice.ipynb")
    for extra in ([], ["--assignment", "forward_pass"]):
        row = invoke_grade(path, *extra, solutions=only_forward).submission("alice")
        assert (row["status"], row["score"]) == ("error", 0)
        assert row["messages"][0].startswith("this notebook is for assignment backward_pass")
    root = tmp_path / "gradescope"
    shutil.copytree(only_forward, root / "source" / "solutions")
    write(student_notebook(), root / "submission" / "backward_pass.ipynb")
    result = CliRunner().invoke(gradescope_autograder, ["run", "--root", str(root), "--assignment", "forward_pass"],
                                env=CLEAN_ENV)
    assert result.exit_code == 0, result.output
    document = json.loads((root / "results" / "results.json").read_text(encoding="utf-8"))
    assert document["score"] == 0
    assert "this notebook is for assignment backward_pass, not forward_pass" in document["output"]


def test_a_definition_is_found_only_where_def_starts_a_word(course, tmp_path):
    """Routing finds a graded function's definition by `\\bdef\\s+NAME\\s*\\(` in the text (routing._defines): a
    `def` glued to a word before it (`undef backward_pass(`) defines nothing, so a forward_pass notebook saying so
    still goes to forward_pass. The search itself agrees with that pattern on generated texts: runs of `def`,
    names, spaces, brackets and Unicode letters and digits (word characters the pattern's `\\b` knows), `def`
    inside and right after other words."""
    import random
    import re

    from grader import routing

    solutions, _ = course
    book = nbformat.read(str(solutions / "forward_pass" / "forward_pass.ipynb"), as_version=4)
    book.metadata.pop("backprop_grader", None)
    book.cells.append(v4.new_code_cell("# undef backward_pass(x): an old helper, gone\nprint('done')"))
    glued = write(book, tmp_path / "glued" / "carol.ipynb")
    assert invoke_grade(glued, solutions=solutions).doc["assignment"] == "forward_pass"

    pieces = ["def", "def ", " ", "\t", "\n", "(", "f", "fx", "x_", "_", "é", "ß", "1", "٣", "\u00a0", ".", "#",
              "undef", "def(", "defdef", "def  f (", "def f("]
    generator = random.Random(20261130)
    for _ in range(20_000):
        text = "".join(generator.choice(pieces) for _ in range(generator.randint(0, 14)))
        for name in ("f", "fx", "x_f", "é"):
            expected = re.search(rf"\bdef\s+{re.escape(name)}\s*\(", text) is not None
            assert routing._defines(text, name) is expected, (text, name)
