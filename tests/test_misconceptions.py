"""Classic mistakes: each is found at the right step, earlier steps pass, later ones get error carried forward."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest

from grader import assignment
from grader.assignment import cases as case_builder
from tests.conftest import steps_of
from tests.notebooks import POINTS, SOLUTIONS, STEPS, reference_body, student_notebook, write

# student id -> (body of backward_pass, the step where it goes wrong)
MISTAKES: dict[str, tuple[str, str]] = {
    "sign_flipped": (reference_body(error="output_layer_out - target"), "error"),
    "no_output_derivative": (reference_body(output_error_term="error"), "output_error_term"),
    "derivative_of_wrong_quantity": (
        reference_body(output_error_term="error * sigmoid(output_layer_out) * (1 - sigmoid(output_layer_out))"),
        "output_error_term",
    ),
    "hidden_error_from_activations": (reference_body(hidden_error="output_error_term * hidden_layer_out"), "hidden_error"),
    "no_hidden_derivative": (reference_body(hidden_error_term="hidden_error"), "hidden_error_term"),
    "no_learnrate_hidden_to_output": (reference_body(delta_w_h_o="output_error_term * hidden_layer_out"), "delta_w_h_o"),
    "no_learnrate_input_to_hidden": (reference_body(delta_w_i_h="np.outer(x, hidden_error_term)"), "delta_w_i_h"),
    "outer_transposed": (reference_body(delta_w_i_h="learnrate * np.outer(hidden_error_term, x)"), "delta_w_i_h"),
    "output_term_in_input_to_hidden": (reference_body(delta_w_i_h="learnrate * np.outer(x, output_error_term)"), "delta_w_i_h"),
}


@pytest.fixture(scope="module")
def graded(tmp_path_factory, run_grade):
    folder = tmp_path_factory.mktemp("misconceptions")
    for student, (body, _) in MISTAKES.items():
        write(student_notebook(body), folder / f"{student}.ipynb")
    run = run_grade(folder)
    assert run.exit_code == 0, run.stderr
    assert len(run.doc["submissions"]) == len(MISTAKES)
    return run


@pytest.mark.parametrize("student", list(MISTAKES))
def test_mistake_found_at_its_step(graded, student):
    row = graded.submission(student)
    wrong = MISTAKES[student][1]
    assert row["status"] == "graded"
    assert row["score"] < 10
    assert row["first_wrong_step"] == wrong
    steps = steps_of(row)
    assert steps[wrong]["status"] == "fail"
    assert steps[wrong]["score"] == 0
    assert steps[wrong]["cases_passed"] < steps[wrong]["cases_total"]
    for earlier in STEPS[: STEPS.index(wrong)]:
        assert steps[earlier]["status"] == "pass", (earlier, steps[earlier])
        assert steps[earlier]["carried_forward"] is False
    assert any(message.startswith(f"First wrong step: {wrong}") for message in row["messages"]), row["messages"]


@pytest.mark.parametrize("student", list(MISTAKES))
def test_one_mistake_costs_only_its_own_points(graded, student):
    """carried_forward_credit = 1.0: every later step is right given the student's own values."""
    row = graded.submission(student)
    wrong = MISTAKES[student][1]
    steps = steps_of(row)
    for later in STEPS[STEPS.index(wrong) + 1:]:
        assert steps[later]["status"] == "pass", (later, steps[later])
        assert steps[later]["score"] == POINTS[later]
    assert row["score"] == pytest.approx(10 - POINTS[wrong])


def test_sign_flip_is_carried_forward(graded):
    row = graded.submission("sign_flipped")
    steps = steps_of(row)
    assert steps["error"]["status"] == "fail"
    assert "opposite sign" in steps["error"]["message"]
    for later in STEPS[1:]:
        assert steps[later]["status"] == "pass"
        assert steps[later]["carried_forward"] is True, later
        assert "carried forward" in steps[later]["message"]
        assert "error" in steps[later]["message"]
    assert row["score"] == 9


def test_independent_later_step_is_not_marked_carried(graded):
    """delta_w_h_o does not depend on hidden_error: it is plainly right, not carried."""
    steps = steps_of(graded.submission("hidden_error_from_activations"))
    assert steps["delta_w_h_o"]["status"] == "pass"
    assert steps["delta_w_h_o"]["carried_forward"] is False
    assert steps["hidden_error_term"]["carried_forward"] is True
    assert steps["delta_w_i_h"]["carried_forward"] is True


def test_transposed_outer_product_is_named(graded):
    message = steps_of(graded.submission("outer_transposed"))["delta_w_i_h"]["message"]
    assert "transpose" in message or "swapped" in message, message


@pytest.mark.parametrize("student", list(MISTAKES))
def test_failing_step_reports_hidden_cases_by_counts_only(graded, student):
    step = steps_of(graded.submission(student))[MISTAKES[student][1]]
    found = re.search(r"hidden cases: wrong on (\d+) of (\d+)", step["message"])
    assert found, step["message"]
    wrong, total = map(int, found.groups())
    assert 0 < wrong <= total == step["cases_total"] - 1  # every case but the public one is hidden


def _spellings(value: float) -> set[str]:
    """How a float could be written in a report."""
    return {repr(value), f"{value:.8g}", f"{value:.7g}", f"{value:.6g}", f"{value:.8f}".rstrip("0"), f"{value:.8e}",
            np.format_float_positional(value, precision=8, unique=False, trim="-")}


def test_no_hidden_expected_value_in_the_report(graded):
    loaded = assignment.load(SOLUTIONS, "backward_pass")
    cases = case_builder.build(loaded, loaded.defaults.seed)
    public = {float(v) for case in cases if case.public for value in case.expected.values() for v in np.ravel(value)}
    text = json.dumps(graded.doc)  # floats are written with repr, as the grader writes them
    leaked, checked = set(), 0
    for case in cases:
        if case.public:
            continue
        for step, value in case.expected.items():
            for number in np.ravel(value):
                number = float(number)
                if number == 0 or any(np.isclose(number, p, rtol=1e-6) for p in public):
                    continue  # public numbers may appear
                checked += 1
                leaked |= {(case.name, step, s) for s in _spellings(number) if len(s) >= 7 and s in text}
    assert checked > 100
    assert not leaked, sorted(leaked)[:5]
