"""Feedback that is evidence: what the messages and diagnoses say of real student code is true.

One `grade` run grades every notebook here (several variants of each kind, backward_pass
written from the course's stub, the other assignments from their reference with lines changed):
zeros in every upstream step of every assignment (no diagnosis), steps never named (judged
through what they feed, never "raised before reaching it"), code that hard-codes the demo's
sizes (said plainly), functions reading notebook globals (warned), and arguments changed in place
(named at the step they corrupt).
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import nbformat
import pytest

from tests.conftest import invoke_grade, steps_of
from tests.notebooks import SOLUTIONS, reference_body, student_notebook, write


def _rubric(assignment: str) -> dict:
    return tomllib.loads((SOLUTIONS / assignment / "rubric.toml").read_text(encoding="utf-8"))


def _from_reference(assignment: str, step: str, change) -> nbformat.NotebookNode | None:
    """The reference notebook with its answer lines kept, the one assigning `step` rewritten by `change(rhs)`."""
    node = nbformat.read(SOLUTIONS / assignment / f"{assignment}.ipynb", as_version=4)
    changed = False
    for cell in node.cells:
        if cell.cell_type != "code":
            continue
        lines = cell.source.split("\n")
        for number, line in enumerate(lines):
            found = re.match(rf"^(\s*){step}\s*(\+?=)\s*(.*?)\s*# SOLUTION$", line)
            if found:
                indent = found.group(1)
                lines[number] = f"{indent}{step} {found.group(2)} {change(found.group(3))}".replace("\n", "\n" + indent)
                changed = True
        cell.source = "\n".join(lines).replace("  # SOLUTION", "")
    return node if changed else None


# Every step that feeds a later one, in every assignment: its value all zeros (of the right shape).
ZEROS = {f"zeros-{assignment}-{step['name']}": (assignment, step["name"])
         for assignment in sorted(path.name for path in SOLUTIONS.iterdir() if (path / "rubric.toml").exists())
         for step in _rubric(assignment)["steps"][:-1]}

NEVER_NAMED = {
    # hidden_error lives inside hidden_error_term; the function raises on the 1-input cases only.
    "unnamed-raises-some": """
        error = target - output_layer_out
        output_error_term = error * output_layer_out * (1 - output_layer_out)
        hidden_error_term = np.dot(output_error_term, weights_hidden_to_output) * hidden_layer_out * (1 - hidden_layer_out)
        delta_w_h_o = learnrate * output_error_term * hidden_layer_out
        assert len(x) > 1
        delta_w_i_h = learnrate * np.outer(x, hidden_error_term)
        return delta_w_h_o, delta_w_i_h
        """,
    # Two steps never named in a row, and a wrong later step (the returned values are not all right).
    "unnamed-chain": """
        error = target - output_layer_out
        hidden_error_term = (error * output_layer_out * (1 - output_layer_out) * weights_hidden_to_output
                             * hidden_layer_out * (1 - hidden_layer_out))
        delta_w_h_o = learnrate * error * output_layer_out * (1 - output_layer_out) * hidden_layer_out
        delta_w_i_h = learnrate * np.outer(hidden_error_term, x)
        return delta_w_h_o, delta_w_i_h
        """,
    # Never named, and what it feeds is wrong: no credit, and no false reason.
    "unnamed-feeds-wrong": """
        error = target - output_layer_out
        output_error_term = error * output_layer_out * (1 - output_layer_out)
        hidden_error_term = np.dot(output_error_term, weights_hidden_to_output)
        delta_w_h_o = learnrate * output_error_term * hidden_layer_out
        delta_w_i_h = learnrate * np.outer(x, hidden_error_term)
        return delta_w_h_o, delta_w_i_h
        """,
    # Named only in a branch the many-input cases skip.
    "branch-skipped": """
        error = target - output_layer_out
        output_error_term = error * output_layer_out * (1 - output_layer_out)
        if len(x) < 0:
            hidden_error = np.dot(output_error_term, weights_hidden_to_output)
        hidden_error_term = np.dot(output_error_term, weights_hidden_to_output) * hidden_layer_out * (1 - hidden_layer_out)
        delta_w_h_o = learnrate * output_error_term * hidden_layer_out
        assert len(x) > 1
        delta_w_i_h = learnrate * np.outer(x, hidden_error_term)
        return delta_w_h_o, delta_w_i_h
        """,
}

# student -> (body, a step that must say so, the size it fixed, as the message writes it)
DEMO_SIZED = {
    "demo-zeros-range": ("""
        error = target - output_layer_out
        output_error_term = error * output_layer_out * (1 - output_layer_out)
        hidden_error = np.zeros(2)
        for j in range(2):
            hidden_error[j] = output_error_term * weights_hidden_to_output[j]
        hidden_error_term = hidden_error * hidden_layer_out * (1 - hidden_layer_out)
        delta_w_h_o = learnrate * output_error_term * hidden_layer_out
        delta_w_i_h = learnrate * np.outer(x, hidden_error_term)
        return delta_w_h_o, delta_w_i_h
        """, "hidden_error", "len(weights_hidden_to_output) == 2"),
    "demo-reshape": (reference_body(delta_w_i_h="learnrate * x.reshape(3, 1) * hidden_error_term"),
                     "delta_w_i_h", "len(x) == 3"),
    "demo-slice": (reference_body(delta_w_h_o="learnrate * output_error_term * hidden_layer_out[:2]"),
                   "delta_w_h_o", "len(hidden_layer_out) <= 2"),
}

# student -> (body, helper cells before the function, the globals it reads)
GLOBALS = {
    "global-shape": (reference_body(
        delta_w_i_h="learnrate * np.outer(x, hidden_error_term).reshape(weights_input_to_hidden.shape)"), (),
        "weights_input_to_hidden"),
    "global-forward": (reference_body(
        delta_w_h_o="learnrate * output_error_term * sigmoid(np.dot(x, weights_input_to_hidden))"), (),
        "weights_input_to_hidden"),
    "global-constant": (reference_body(delta_w_h_o="LEARNING_RATE * output_error_term * hidden_layer_out"),
                        ("LEARNING_RATE = 0.5",), "LEARNING_RATE"),
}
# Reading what the reference reads too (np, sigmoid), a helper function (def or lambda), or a parameter named like
# a global.
NO_GLOBALS = {
    "helper-function": (reference_body(output_error_term="error * slope(output_layer_out)"),
                        ("def slope(a):\n    return a * (1 - a)",)),
    "shadowed-global": (reference_body(), ("target = 0.25\nscale = 3",)),
    "lambda-helper": (reference_body(hidden_error_term="hidden_error * slope(hidden_layer_out)"),
                      ("slope = lambda a: a * (1 - a)\nsquares = [value ** 2 for value in range(3)]",)),
}

# student -> (body, the step corrupted by the argument changed before it, that argument)
IN_PLACE = {
    "inplace-update-weights": ("""
        error = target - output_layer_out
        output_error_term = error * output_layer_out * (1 - output_layer_out)
        delta_w_h_o = learnrate * output_error_term * hidden_layer_out
        weights_hidden_to_output += delta_w_h_o
        hidden_error = np.dot(output_error_term, weights_hidden_to_output)
        hidden_error_term = hidden_error * hidden_layer_out * (1 - hidden_layer_out)
        delta_w_i_h = learnrate * np.outer(x, hidden_error_term)
        return delta_w_h_o, delta_w_i_h
        """, "hidden_error", "weights_hidden_to_output"),
    "inplace-slice": ("""
        error = target - output_layer_out
        output_error_term = error * output_layer_out * (1 - output_layer_out)
        weights_hidden_to_output[:] = weights_hidden_to_output * 2
        hidden_error = output_error_term * weights_hidden_to_output
        hidden_error_term = hidden_error * hidden_layer_out * (1 - hidden_layer_out)
        delta_w_h_o = learnrate * output_error_term * hidden_layer_out
        delta_w_i_h = learnrate * np.outer(x, hidden_error_term)
        return delta_w_h_o, delta_w_i_h
        """, "hidden_error", "weights_hidden_to_output"),
    "inplace-activations": ("""
        error = target - output_layer_out
        output_error_term = error * output_layer_out * (1 - output_layer_out)
        hidden_layer_out *= 1 - hidden_layer_out
        hidden_error = np.dot(output_error_term, weights_hidden_to_output)
        hidden_error_term = hidden_error * hidden_layer_out
        delta_w_h_o = learnrate * output_error_term * hidden_layer_out
        delta_w_i_h = learnrate * np.outer(x, hidden_error_term)
        return delta_w_h_o, delta_w_i_h
        """, "delta_w_h_o", "hidden_layer_out"),
}
# The same with the parameters named as the student likes: the run names the argument as the reference does.
RENAMED_SIGNATURE = "def backward_pass(x, target, lr, h, o, w):"
IN_PLACE_RENAMED = """
error = target - o
output_error_term = error * o * (1 - o)
w -= lr * output_error_term * h
hidden_error = w * output_error_term
hidden_error_term = hidden_error * h * (1 - h)
return lr * output_error_term * h, lr * np.outer(x, hidden_error_term)
"""
# Changed in place after every step that reads it, or only a copy changed: nothing is named at a step.
IN_PLACE_HARMLESS = {
    "inplace-after": reference_body().replace("return", "weights_hidden_to_output *= 0.5\nreturn"),
    "inplace-copy": "weights_hidden_to_output = weights_hidden_to_output.copy()\nweights_hidden_to_output *= 2\n"
                    + reference_body(hidden_error="np.dot(output_error_term, weights_hidden_to_output) / 2"),
}


# The classic mistake of one epoch of gradient descent: the weights updated inside the loop over records.
IN_A_LOOP = ("gradient_descent", "del_w", lambda rhs: f"{rhs}\nweights += learnrate * error_term * x / n_records")


@pytest.fixture(scope="module")
def graded(tmp_path_factory) -> dict[str, dict]:
    """Every notebook of this module, graded in one invocation of the real CLI."""
    folder: Path = tmp_path_factory.mktemp("evidence")
    for student, (assignment, step) in ZEROS.items():
        node = _from_reference(assignment, step, lambda rhs: f"0 * ({rhs})")
        assert node is not None, (assignment, step)
        write(node, folder / f"{student}.ipynb")
    write(_from_reference(*IN_A_LOOP), folder / "inplace-in-a-loop.ipynb")
    write(student_notebook(IN_PLACE_RENAMED, signature=RENAMED_SIGNATURE), folder / "inplace-renamed.ipynb")
    for student, body in {**NEVER_NAMED, **IN_PLACE_HARMLESS}.items():
        write(student_notebook(body), folder / f"{student}.ipynb")
    for student, (body, *_) in {**DEMO_SIZED, **IN_PLACE}.items():
        write(student_notebook(body), folder / f"{student}.ipynb")
    for student, (body, helpers, *_) in {**GLOBALS, **NO_GLOBALS}.items():
        write(student_notebook(body, helper_cells=helpers), folder / f"{student}.ipynb")
    run = invoke_grade(folder)
    assert run.exit_code == 0, run.stderr
    return {row["student"]: row for row in run.doc["submissions"]}


@pytest.mark.parametrize("student", list(ZEROS))
def test_zeros_upstream_get_no_diagnosis(graded, student):
    """diagnosis._telling: on zero (degenerate) upstream values every multiplicative mistake matches; none is named."""
    row = graded[student]
    assert row["status"] == "graded" and row["assignment"] == ZEROS[student][0], row["messages"]
    assert row["score"] < row["max_score"]
    assert row["diagnoses"] == [], row["diagnoses"]


def test_never_two_diagnoses_at_one_step(graded):
    """diagnosis.diagnose: at most the best-supported mistake per step, so no contradictory pair, in any row."""
    for student, row in graded.items():
        steps = [diagnosis["step"] for diagnosis in row["diagnoses"]]
        assert len(steps) == len(set(steps)), (student, row["diagnoses"])


def test_never_named_step_is_judged_through_what_it_feeds(graded):
    """scoring._Steps._missing: a step with no variable of its name is credited when every step it feeds is right."""
    for student in ("unnamed-raises-some", "unnamed-chain"):
        steps = steps_of(graded[student])
        unnamed = ["hidden_error"] if student == "unnamed-raises-some" else ["output_error_term", "hidden_error"]
        for name in unnamed:
            message = steps[name]["message"]
            assert steps[name]["status"] == "pass" and steps[name]["score"] == steps[name]["max_score"], steps[name]
            assert message.startswith(f"no variable named {name} in backward_pass(), but what it feeds, "), message
            assert "raised" not in message
    assert "what it feeds, hidden_error_term and delta_w_h_o, are right on all 41 cases" in steps_of(graded["unnamed-chain"])[
        "output_error_term"]["message"]
    assert graded["unnamed-chain"]["first_wrong_step"] == "delta_w_i_h"


def test_never_named_step_feeding_a_wrong_step_earns_nothing_and_says_why(graded):
    """scoring._Steps._missing: no credit through a wrong step, and the message says the name is absent, not a raise."""
    step = steps_of(graded["unnamed-feeds-wrong"])["hidden_error"]
    assert step["status"] == "missing" and step["score"] == 0
    assert step["message"] == ("no variable named hidden_error in backward_pass(); it is judged through what it "
                               "feeds, and hidden_error_term is not right on every case")


def test_step_skipped_by_a_branch_is_told_apart(graded):
    """scoring._Steps._missing: bound in the source but absent where the function returned: a branch skipped it."""
    step = steps_of(graded["branch-skipped"])["hidden_error"]
    assert step["status"] == "missing"
    assert re.fullmatch(r"no value on 3\d of 41 cases, though they ran to the end: backward_pass\(\) assigns "
                        r"hidden_error only in a branch those cases skip", step["message"]), step["message"]


@pytest.mark.parametrize("student", list(DEMO_SIZED))
def test_demo_sized_code_is_said_plainly(graded, student):
    """demo_sizes.conditions: right exactly on the cases with the demo's sizes, wrong on all others, said at the step."""
    _, step, condition = DEMO_SIZED[student]
    message = steps_of(graded[student])[step]["message"]
    assert re.search(rf"right on all \d+ cases where .*{re.escape(condition)}.* \(the demo's sizes\), wrong on all \d+ "
                     r"others \(e\.g\. [^)]*hidden unit.*\): does the code assume the demo's sizes\?", message), message


def test_demo_sizes_never_claimed_of_other_mistakes(graded):
    """demo_sizes.conditions: zeros, globals read with right shapes, in-place changes: none fits the demo's sizes."""
    for student in [*ZEROS, *IN_PLACE, "global-constant", "unnamed-feeds-wrong"]:
        assert not any("the demo's sizes" in step["message"] for step in graded[student]["steps"]), student


@pytest.mark.parametrize("student", list(GLOBALS))
def test_reading_a_notebook_global_is_warned(graded, student):
    """judge.source: a top-level value of the notebook read inside the function, found by parsing only."""
    name = GLOBALS[student][2]
    assert (f"backward_pass() reads {name} from the notebook instead of from its parameters: graded on other inputs, "
            "it still sees the notebook's value. Use only the function's arguments.") in graded[student]["messages"]


@pytest.mark.parametrize("student", [*NO_GLOBALS, *IN_PLACE, *NEVER_NAMED, "zeros-backward_pass-error"])
def test_no_global_warning_without_a_global_read(graded, student):
    """judge.source: np, sigmoid, helper functions and parameters named like globals are not notebook globals."""
    assert not any("from the notebook instead of from its parameters" in m for m in graded[student]["messages"])
    if student in NO_GLOBALS:
        assert graded[student]["score"] == graded[student]["max_score"]


@pytest.mark.parametrize("student", list(IN_PLACE))
def test_argument_changed_in_place_is_named_at_the_step_it_corrupts(graded, student):
    """feedback.changed_in_place: the run shows the change, the source the step reading the argument after it."""
    _, step, argument = IN_PLACE[student]
    row = graded[student]
    assert row["first_wrong_step"] == step
    assert [(d["step"], d["misconception"]) for d in row["diagnoses"]] == [(step, "argument_changed_in_place")]
    assert row["diagnoses"][0]["message"].startswith(
        f"Your {step} is computed from {argument} after your function changed that argument in place (cell ")
    assert any(m.startswith(f"backward_pass() changes its argument(s) {argument} in place") for m in row["messages"])


@pytest.mark.parametrize("student", list(IN_PLACE_HARMLESS))
def test_harmless_in_place_change_names_no_step(graded, student):
    """feedback.changed_in_place: a change after every read, or to a copy, corrupts no step."""
    row = graded[student]
    assert row["score"] == row["max_score"], row["steps"]
    assert row["diagnoses"] == []


def test_argument_changed_inside_a_loop_is_named_where_the_next_iteration_reads_it(graded):
    """judge.source: a read earlier in the loop body than the change still comes after it, from the next record on."""
    row = graded["inplace-in-a-loop"]
    assert row["first_wrong_step"] == "output"
    assert [(d["step"], d["misconception"]) for d in row["diagnoses"]] == [
        ("output", "argument_changed_in_place"), ("new_weights", "argument_changed_in_place")]
    assert row["diagnoses"][0]["message"].startswith(
        "Your output is computed from weights after your function changed that argument in place (cell ")


def test_argument_changed_in_place_under_another_name_is_named_at_its_step(graded):
    """judge.source maps the student's parameter names to the reference's by position, as the call passes them."""
    row = graded["inplace-renamed"]
    assert [(d["step"], d["misconception"]) for d in row["diagnoses"]] == [("hidden_error", "argument_changed_in_place")]
    assert row["diagnoses"][0]["message"].startswith(
        "Your hidden_error is computed from w after your function changed that argument in place (cell ")
