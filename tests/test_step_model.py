"""The step model on real exercise code: steps per loop iteration, `+=` steps, one returned value, locals in formulas.

Two exercises are written as an instructor would (tests/loop_exercise.py), their stubs generated
with `grade-stub`, and every submission graded through the real `grade` command.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from grader.cli import grade, make_stub
from tests import loop_exercise as exercise
from tests import unprivileged
from tests.conftest import CLEAN_ENV, invoke_grade, steps_of
from tests.notebooks import REPO

EPOCH = exercise.EPOCH_SIGNATURE
RIGHT_LOOP = """
n_records, n_features = features.shape
del_w = np.zeros(weights.shape)
for x, y in zip(features, targets):
    output = sigmoid(np.dot(x, weights))
    error = y - output
    error_term = error * output * (1 - output)
    del_w += error_term * x
{tail}
"""
RIGHT_TAIL = "new_weights = weights + learnrate * del_w / n_records\nreturn new_weights"


def loop(**replacements: str) -> str:
    """The right epoch with some lines replaced (by their step name) and an optional `tail`."""
    body = RIGHT_LOOP.replace("{tail}", replacements.pop("tail", RIGHT_TAIL))
    lines = []
    for line in body.splitlines():
        name = line.strip().split(" ", 1)[0]
        inside = line.startswith("    ")  # only the loop's lines: `del_w = np.zeros(...)` stays
        lines.append("    " + replacements[name] if inside and name in replacements else line)
    return "\n".join(lines)


CRASH_ON_RECORD_3 = """
n_records, n_features = features.shape
del_w = np.zeros(weights.shape)
for index in range(n_records):
    x, y = features[index], targets[index]
    output = sigmoid(np.dot(x, weights))
    error = y - output
    error_term = error * output * (1 - output) * (1.0 if index != 2 else None)
    del_w += error_term * x
new_weights = weights + learnrate * del_w / n_records
return new_weights
"""

SUBMISSIONS = {
    "reference": None,
    "stub": None,
    # Uses the previous record's output in the error term: right on record 1 only.
    "previous_output": """
n_records, n_features = features.shape
del_w = np.zeros(weights.shape)
previous = None
for x, y in zip(features, targets):
    output = sigmoid(np.dot(x, weights))
    error = y - output
    if previous is None:
        previous = output
    error_term = error * previous * (1 - previous)
    previous = output
    del_w += error_term * x
new_weights = weights + learnrate * del_w / n_records
return new_weights
""",
    "not_accumulated": loop(del_w="del_w = error_term * x"),
    "crash_on_record_2": """
n_records, n_features = features.shape
del_w = np.zeros(weights.shape)
for index in range(n_records):
    x, y = features[index], targets[index]
    output = sigmoid(np.dot(x, weights))
    error = y - output
    error_term = error * output * (1 - output)
    del_w += error_term * x
    if index == 1:
        raise ValueError("no second record")
new_weights = weights + learnrate * del_w / n_records
return new_weights
""",
    # Crashes on record 3 (cases of 3 records or more) in error_term's line, after output and error are assigned.
    "crash_on_record_3": CRASH_ON_RECORD_3,
    # The same crash, with output wrong on record 3 only: the iteration that raised keeps its own values.
    "output_wrong_where_it_crashed": CRASH_ON_RECORD_3.replace(
        "output = sigmoid(np.dot(x, weights))", "output = sigmoid(np.dot(x, weights)) * (1.5 if index == 2 else 1.0)"),
    # error assigned twice, the second assignment raising on record 3: its first value is not the record's.
    "assigned_twice_crash": CRASH_ON_RECORD_3.replace("    error = y - output\n", "    error = y\n").replace(
        "    error_term = error * output * (1 - output) * (1.0 if index != 2 else None)\n",
        "    error = (error - output) * (1.0 if index != 2 else None)\n    error_term = error * output * (1 - output)\n"),
    # Raises on record 1 of every case, after output and error are assigned.
    "crash_everywhere": loop(error_term="error_term = error * output * (1 - output) * None"),
    # Like mateo's broadcasting mistake: runs to the end only on the cases with 4 features, raises on record 1 elsewhere.
    "shape_crash": loop(del_w="del_w += error_term * x + np.zeros(4)"),
    # Raises on record 1 of the cases with 2 features only (a minority): it ran to the end on most cases.
    "rare_shape_crash": loop(del_w="del_w += error_term * x + np.zeros(len(x) if len(x) != 2 else 5)"),
    # The same, with error wrong (doubled) on the cases where the function raises.
    "shape_crash_error_wrong_where_it_raised": loop(
        del_w="del_w += error_term * x + np.zeros(4)",
        error="error = (y - output) * (1.0 if n_features == 4 else 2.0)"),
    "vectorised": """
n_records = features.shape[0]
output = sigmoid(features @ weights)
error = targets - output
error_term = error * output * (1 - output)
del_w = error_term @ features
return weights + learnrate * del_w / n_records
""",
    "tuple_of_one": loop(tail="return (weights + learnrate * del_w / n_records,)"),
    "sign_flipped": loop(error="error = output - y"),
    "tiny_constants": loop(output="output = 1e-200", error="error = 1e-200", error_term="error_term = 1e-200",
                           del_w="del_w = np.full(weights.shape, 1e-200)", tail="return np.full(weights.shape, 1e-200)"),
    "constants": loop(output="output = 0.37", error="error = 0.37", error_term="error_term = 0.37",
                      del_w="del_w = np.full(weights.shape, 0.37)", tail="return np.full(weights.shape, 0.37)"),
    "tiny_error": loop(error="error = 1e-200 * y"),
    "constant_error_term": loop(error_term="error_term = 0.25"),
}


@pytest.fixture(scope="module")
def graded(tmp_path_factory) -> dict:
    """Every submission of SUBMISSIONS graded in one `grade` run; rows by student."""
    root = tmp_path_factory.mktemp("steps")
    solutions = exercise.write_solutions(root / "solutions")
    assignments = root / "assignments"
    result = CliRunner().invoke(make_stub, ["--solutions", str(solutions), "--assignments", str(assignments)],
                                env=CLEAN_ENV)
    assert result.exit_code == 0, result.output
    check = CliRunner().invoke(make_stub, ["--solutions", str(solutions), "--assignments", str(assignments), "--check"],
                               env=CLEAN_ENV)
    assert check.exit_code == 0, check.output
    class_dir = root / "class"
    class_dir.mkdir()
    for name, body in SUBMISSIONS.items():
        target = class_dir / f"{name}.ipynb"
        if name == "reference":
            target.write_bytes((solutions / "gradient_descent" / "gradient_descent.ipynb").read_bytes())
        elif name == "stub":
            target.write_bytes((assignments / "gradient_descent" / "gradient_descent.ipynb").read_bytes())
        else:
            exercise.student(target, EPOCH, body)
    run = invoke_grade(class_dir, "--assignment", "gradient_descent", solutions=solutions)
    assert run.exit_code in (0, 1) and run.doc is not None, run.stderr
    rows = {row["student"]: row for row in run.doc["submissions"]}
    return {"rows": rows, "solutions": solutions, "assignments": assignments, "root": root}


def test_reference_full_marks_and_stub_zero(graded):
    """The reference scores full marks and its generated stub (with `del_w += 0  # TODO`) runs and scores zero."""
    rows = graded["rows"]
    assert rows["reference"]["score"] == rows["reference"]["max_score"] == 8.0
    assert rows["stub"]["status"] == "graded" and rows["stub"]["score"] == 0.0
    stub = json.loads((graded["assignments"] / "gradient_descent" / "gradient_descent.ipynb").read_text())
    source = "".join(cell["source"] if isinstance(cell["source"], str) else "".join(cell["source"])
                     for cell in stub["cells"])
    assert "del_w += 0  # TODO" in source and "SOLUTION" not in source and "error_term * x" not in source


def test_first_wrong_record_is_named(graded):
    """Per-iteration comparison: a step wrong from record 2 on is named with the rubric's iteration word."""
    row = graded["rows"]["previous_output"]
    steps = steps_of(row)
    assert steps["output"]["status"] == steps["error"]["status"] == "pass"
    assert steps["error_term"]["status"] == "fail"
    assert "public case: error_term is wrong from record 2 on" in steps["error_term"]["message"]
    assert row["first_wrong_step"] == "error_term"
    # Downstream steps are right given the student's own error_term, per record (`+=` with its own del_w).
    assert steps["del_w"]["carried_forward"] and steps["new_weights"]["carried_forward"]
    assert row["score"] == 8.0 - 2.0


def test_public_values_show_the_first_wrong_record(graded):
    """The first wrong step's public got/expected show the record that went wrong first, not a cut sequence."""
    notebook = graded["root"] / "class" / "previous_output.ipynb"
    result = CliRunner().invoke(grade, [str(notebook), "--assignment", "gradient_descent", "--solutions",
                                        str(graded["solutions"]), "--jobs", "1"], env=CLEAN_ENV)
    assert "got (public case):      record 2: -0.115" in result.stdout, result.stdout
    assert "expected (public case): record 2: -0.114" in result.stdout


def test_assignment_instead_of_accumulation_is_named(graded):
    """A catalogue formula over the loop variable names `del_w = error_term * x`; one written with del_w's
    previous value (`del_w - error_term * x`) is told apart from it."""
    row = graded["rows"]["not_accumulated"]
    steps = steps_of(row)
    assert steps["del_w"]["status"] == "fail" and "wrong from record 2 on" in steps["del_w"]["message"]
    assert [d["misconception"] for d in row["diagnoses"] if d["step"] == "del_w"] == ["step_not_accumulated"]


def test_crash_on_record_two_is_reported_with_earlier_records_judged(graded):
    """A crash inside the loop is reported with its iteration; the values of the records before it, and of the
    record that raised when assigned before the raise (capture's marker calls), are judged right."""
    row = graded["rows"]["crash_on_record_2"]
    steps = steps_of(row)
    assert row["status"] == "error"
    assert any("ValueError: no second record on record 2 (cell" in message for message in row["messages"])
    assert ("is right up to record 2, where update_weights() raised ValueError: no second record on record 2"
            in steps["del_w"]["message"]), steps["del_w"]["message"]
    assert steps["new_weights"]["status"] == "missing" and "on record 2" in steps["new_weights"]["message"]


def test_crash_on_record_3_judges_what_ran(graded):
    """capture's marker calls keep the steps assigned in the iteration that raised; judging compares them with the
    reference's first rows: output and error are right as far as the code ran, error_term (whose line raised) is
    the first wrong step, named with record 3, and only it carries the advice to fix the exception first. The loop
    stopped early on most cases, so being right as far as it ran earns nothing (red team round 3)."""
    row = graded["rows"]["crash_on_record_3"]
    steps = steps_of(row)
    assert row["status"] == "graded"  # the 2-record hidden case runs to the end
    for name in ("output", "error"):
        assert steps[name]["status"] == "fail" and steps[name]["message"].startswith(
            "right as far as the code ran, but update_weights() raised before the end of its loop on 7 of 9 cases"), steps[name]
    assert row["first_wrong_step"] == "error_term"
    message = steps["error_term"]["message"]
    assert ("public case: error_term is right up to record 2, then has no value: update_weights() raised TypeError"
            in message and "on record 3 (cell" in message), message
    assert "is right up to record 2, then has no value" in steps["del_w"]["message"]
    advice = [text for text in row["messages"] if "fix the exception below first" in text]
    assert len(advice) == 1 and advice[0].startswith("First wrong step: error_term,"), row["messages"]
    assert row["score"] == 0.0, row["steps"]


def test_iteration_that_raised_keeps_its_own_values(graded):
    """The values kept for the iteration that raised are that iteration's (not the previous one's): an output wrong
    on record 3 only is caught; a step assigned twice whose second assignment raised has no value there."""
    wrong_output = graded["rows"]["output_wrong_where_it_crashed"]
    assert wrong_output["first_wrong_step"] == "output"
    assert "output is wrong from record 3 on" in steps_of(wrong_output)["output"]["message"]
    twice = graded["rows"]["assigned_twice_crash"]
    assert twice["first_wrong_step"] == "error"
    message = steps_of(twice)["error"]["message"]
    assert "error is right up to record 2, then has no value" in message and "on record 3" in message, message
    assert steps_of(twice)["output"]["message"].startswith("right as far as the code ran")


def test_crash_on_every_case_earns_nothing(graded):
    """Rows right as far as the code ran earn nothing when the function raised on every case (nothing returned)."""
    row = graded["rows"]["crash_everywhere"]
    assert (row["status"], row["score"]) == ("error", 0.0), row["steps"]
    assert not [step for step in row["steps"] if step["status"] == "pass"]
    assert "is right up to record 1, where update_weights() raised TypeError" in steps_of(row)["output"]["message"]


def test_crash_on_some_cases_only(graded):
    """A shape-dependent crash (mateo's kind): the crashing step is the first wrong one and its loop is not called
    missing. The steps before the crash line keep their points when right on every case where they ran, if the loop
    ran to the end on most cases; stopped early on most, it shows too little of them to earn anything."""
    rare = graded["rows"]["rare_shape_crash"]
    steps = steps_of(rare)
    assert [steps[name]["status"] for name in ("output", "error", "error_term")] == ["pass"] * 3, rare["steps"]
    assert "(2 of them as far as the code ran" in steps["output"]["message"]
    assert rare["first_wrong_step"] == "del_w" and rare["score"] == 4.0, rare["steps"]
    row = graded["rows"]["shape_crash"]
    steps = steps_of(row)
    assert row["status"] == "graded"
    assert [steps[name]["status"] for name in ("output", "error", "error_term")] == ["fail"] * 3, row["steps"]
    assert all(steps[name]["message"].startswith("right as far as the code ran") for name in ("output", "error"))
    assert row["first_wrong_step"] == "del_w"
    message = steps["del_w"]["message"]
    assert "public case: del_w has no value: update_weights() raised ValueError" in message and "on record 1" in message
    assert "computed without a loop" not in json.dumps(row)
    assert row["score"] == 0.0, row["steps"]
    wrong = graded["rows"]["shape_crash_error_wrong_where_it_raised"]
    assert steps_of(wrong)["error"]["status"] == "fail" and wrong["first_wrong_step"] == "error"
    assert "error is wrong from record 1 on" in steps_of(wrong)["error"]["message"]


def test_mateo_crash_names_the_crashing_step():
    """Regression (issue 10): mateo's broadcasting error at del_w_input_hidden on record 1 makes that step the first
    wrong one, and no step is called computed without a loop; raising on 33 of 41 cases, the steps before it are
    right only as far as the code ran and earn nothing."""
    notebook = REPO / "examples" / "train_network" / "mateo.ipynb"
    command = [sys.executable, "-m", "grader", str(notebook), "--assignment", "train_network", "--no-cache"]
    env = {key: value for key, value in os.environ.items() if key not in CLEAN_ENV}
    env["GRADER_SOLUTIONS"] = str(REPO / "solutions")
    text = subprocess.run(command, capture_output=True, text=True, env=env, cwd=REPO, timeout=120)
    report = subprocess.run(command + ["--json", "-"], capture_output=True, text=True, env=env, cwd=REPO, timeout=120)
    row = json.loads(report.stdout)["submissions"][0]
    assert row["first_wrong_step"] == "del_w_input_hidden", row
    assert "computed without a loop" not in text.stdout + report.stdout, text.stdout
    steps = steps_of(row)
    assert "del_w_input_hidden has no value: train_epoch() raised ValueError" in steps["del_w_input_hidden"]["message"]
    assert "on record 1" in steps["del_w_input_hidden"]["message"]
    assert all(steps[name]["message"].startswith("right as far as the code ran") for name in (
        "error", "output_error_term", "hidden_error", "hidden_error_term", "del_w_hidden_output"))
    assert row["score"] == 0.0


def test_vectorised_and_single_value_returns_get_full_marks(graded):
    """Steps computed without a loop are judged through the returned value; a bare array and a 1-tuple both count."""
    vectorised = graded["rows"]["vectorised"]
    assert vectorised["score"] == 8.0, vectorised["steps"]
    assert "computed without a loop" in steps_of(vectorised)["del_w"]["message"]
    assert graded["rows"]["tuple_of_one"]["score"] == 8.0


def test_carried_forward_with_locals_and_loop_variables(graded):
    """A flipped error sign carries through formulas that use the loop variable `x`, del_w's previous value and the
    local `n_records`: only the error's point is lost, and the mistake is named."""
    row = graded["rows"]["sign_flipped"]
    steps = steps_of(row)
    assert steps["error"]["status"] == "fail"
    for name in ("error_term", "del_w", "new_weights"):
        assert steps[name]["status"] == "pass" and steps[name]["carried_forward"], steps[name]
    assert row["score"] == 7.0
    assert "error_sign_flipped" in [d["misconception"] for d in row["diagnoses"]]


@pytest.mark.parametrize("student, points", [("tiny_constants", 0.0), ("constants", 0.0), ("tiny_error", 1.0),
                                             ("constant_error_term", 2.0)])
def test_degenerate_values_earn_nothing(graded, student, points):
    """The earned rule per iteration: values nothing can be read from carry no credit downstream and name no mistake.

    Tiny values carry their tininess downstream: the returned weights are the inputs handed back, and earn
    nothing. A constant error term earns nothing itself, nor does anything computed from it: the same
    number on every record of every case was computed from nothing, so what the reference makes of it
    (del_w without the error term's factor) is not the student's step done right."""
    row = graded["rows"][student]
    assert row["score"] == points, row["steps"]
    assert not [d for d in row["diagnoses"] if d["step"] in ("error_term", "new_weights")]


def test_training_loop_epochs_by_records(tmp_path):
    """Epochs x records flatten in execution order and are named "epoch 2, record 1"; an argument meant to be
    updated in place is a step (its value after the call) and draws no in-place warning."""
    solutions = exercise.write_solutions(tmp_path / "solutions")
    signature, setup = exercise.TRAINING_SIGNATURE, exercise.SETUP + "\nEPOCHS = 3\n"
    reference = exercise.TRAINING_BODY.replace("  # SOLUTION", "")
    no_reset = reference.replace("    del_w = np.zeros(weights.shape)\n", "").replace(
        "n_records = features.shape[0]\n", "n_records = features.shape[0]\ndel_w = np.zeros(weights.shape)\n")
    rebinds = reference.replace("weights += learnrate", "weights = weights + learnrate")
    for name, body in (("right", reference), ("no_reset", no_reset), ("rebinds", rebinds)):
        exercise.student(tmp_path / "class" / f"{name}.ipynb", signature, body, setup)
    run = invoke_grade(tmp_path / "class", "--assignment", "training_loop", solutions=solutions)
    rows = {row["student"]: row for row in run.doc["submissions"]}
    assert rows["right"]["score"] == 4.0
    assert not [message for message in rows["right"]["messages"] if "in place" in message]
    assert "del_w is wrong from epoch 2, record 1 on" in steps_of(rows["no_reset"])["del_w"]["message"]
    rebound = steps_of(rows["rebinds"])
    # Rebinding trains right inside the function, but leaves the caller's array as it was.
    assert rebound["weights"]["status"] == "fail" and rebound["del_w"]["status"] == "pass"


@pytest.mark.skipif(unprivileged.unavailable() is not None, reason=str(unprivileged.unavailable()))
def test_step_model_as_an_ordinary_user():
    """The same loop exercise graded as uid 65534: capture per iteration does not depend on who grades."""
    chosen = ("test_reference_full_marks_and_stub_zero", "test_first_wrong_record_is_named",
              "test_crash_on_record_two_is_reported_with_earlier_records_judged", "test_crash_on_record_3_judges_what_ran")
    done = unprivileged.run_unprivileged(*(f"{Path(__file__)}::{name}" for name in chosen))
    assert done.returncode == 0 and "4 passed" in done.stdout, done.stdout[-3000:] + done.stderr[-3000:]


@pytest.mark.parametrize("change, message", [
    (('name = "del_w"\n', 'name = "del_w"\ncarried = "del_w + eror_term"\n'), "eror_term"),
    (('name = "new_weights"\n', 'name = "new_weights"\ncapture = "iteration"\n'), "captured once"),
    (('name = "del_w"\npoints = 2\ncapture = "iteration"\n', 'name = "del_w"\npoints = 2\n'), "captured once"),
    (('iteration = "record"\n', 'iteration = "record"\nupdates = ["weigths"]\n'), "weigths"),
    (('capture = "iteration"\nhint = "The output', 'capture = "per record"\nhint = "The output'), "capture"),
])
def test_rubric_mistakes_are_configuration_errors(tmp_path, change, message):
    """A rubric the step model cannot honour stops the run with exit 2 and a one-line message: a formula naming
    nothing known, a returned step per iteration, an accumulated step captured once without `carried`, an
    `updates` name that is no parameter, an unknown capture."""
    solutions = exercise.write_solutions(tmp_path / "solutions")
    rubric = solutions / "gradient_descent" / "rubric.toml"
    text = rubric.read_text()
    assert change[0] in text
    rubric.write_text(text.replace(change[0], change[1], 1))
    notebook = Path(tmp_path / "alice.ipynb")
    exercise.student(notebook, EPOCH, loop())
    run = invoke_grade(notebook, "--assignment", "gradient_descent", solutions=solutions)
    assert run.exit_code == 2 and message in run.stderr and "Traceback" not in run.stderr, run.stderr

