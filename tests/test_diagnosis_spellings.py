"""Review of the diagnoses on realistic notebooks: other spellings of the catalogue's mistakes, two
mistakes in different steps, renamed intermediates, and more correct styles.

Everything is graded in one invocation of the real CLI.
"""

from __future__ import annotations

import pytest

from tests.conftest import steps_of
from tests.notebooks import reference_body, student_notebook, write

SIGMOID_DERIVATIVE_EXP = "def sigmoid_derivative(x):\n    s = 1 / (1 + np.exp(-x))\n    return s * (1 - s)\n"
DERIVATIVE = "def derivative(a):\n    return a * (1 - a)\n"
NO_DERIVATIVE = "def error_term(err, activation):\n    return err\n"

RENAMED = """
err = {err}
d_o = {d_o}
d_h = {d_h}
dw_ho = {dw_ho}
dw_ih = {dw_ih}
return dw_ho, dw_ih
"""


def renamed(**changes: str) -> str:
    """A correct body whose intermediates have names of the student's own, with some lines changed."""
    lines = {"err": "target - output_layer_out", "d_o": "err * output_layer_out * (1 - output_layer_out)",
             "d_h": "d_o * weights_hidden_to_output * hidden_layer_out * (1 - hidden_layer_out)",
             "dw_ho": "learnrate * d_o * hidden_layer_out", "dw_ih": "learnrate * np.outer(x, d_h)"}
    return RENAMED.format(**{**lines, **changes})


FLOAT32 = """
x = x.astype(np.float32)
hidden_layer_out = hidden_layer_out.astype(np.float32)
weights_hidden_to_output = weights_hidden_to_output.astype(np.float32)
output_layer_out = np.float32(output_layer_out)
"""

LOOPS_TRANSPOSED = """
error = target - output_layer_out
output_error_term = error * output_layer_out * (1 - output_layer_out)
hidden_error = output_error_term * weights_hidden_to_output
hidden_error_term = hidden_error * hidden_layer_out * (1 - hidden_layer_out)
delta_w_h_o = learnrate * output_error_term * hidden_layer_out
delta_w_i_h = np.zeros((len(hidden_error_term), len(x)))
for j in range(len(hidden_error_term)):
    for i in range(len(x)):
        delta_w_i_h[j, i] = learnrate * x[i] * hidden_error_term[j]
return delta_w_h_o, delta_w_i_h
"""

NO_HIDDEN_ERROR_NO_LEARNRATE = """
error = target - output_layer_out
output_error_term = error * output_layer_out * (1 - output_layer_out)
hidden_error_term = np.dot(output_error_term, weights_hidden_to_output) * hidden_layer_out * (1 - hidden_layer_out)
delta_w_h_o = output_error_term * hidden_layer_out
delta_w_i_h = hidden_error_term * x[:, None]
return delta_w_h_o, delta_w_i_h
"""

# student id -> (body, helper cells, the (step, misconception) pairs it must get, in order)
SPELLINGS: dict[str, tuple[str, tuple[str, ...], list[tuple[str, str]]]] = {
    "flip-negated": (reference_body(error="-(target - output_layer_out)"), (), [("error", "error_sign_flipped")]),
    "flip-subtract": (reference_body(error="np.subtract(output_layer_out, target)"), (), [("error", "error_sign_flipped")]),
    "loss-power-half": (reference_body(error="np.power(output_layer_out - target, 2) / 2"), (),
                        [("error", "error_is_the_loss")]),
    "loss-mean": (reference_body(error="np.mean((target - output_layer_out) ** 2)"), (), [("error", "error_is_the_loss")]),
    "doubled-negated": (reference_body(error="-2 * (output_layer_out - target)"), (), [("error", "error_doubled")]),
    "no-derivative-helper": (reference_body(output_error_term="error_term(error, output_layer_out)"), (NO_DERIVATIVE,),
                             [("output_error_term", "output_derivative_missing")]),
    "no-error-helper": (reference_body(output_error_term="derivative(output_layer_out)"), (DERIVATIVE,),
                        [("output_error_term", "output_error_missing")]),
    "twice-exp-helper": (reference_body(output_error_term="error * sigmoid_derivative(output_layer_out)"),
                         (SIGMOID_DERIVATIVE_EXP,), [("output_error_term", "output_sigmoid_applied_twice")]),
    "twice-exp-inline": ("s = 1 / (1 + np.exp(-output_layer_out))\n" + reference_body(output_error_term="error * s * (1 - s)"),
                         (), [("output_error_term", "output_sigmoid_applied_twice")]),
    "twice-recomputed-output": (
        "out = sigmoid(np.dot(hidden_layer_out, weights_hidden_to_output))\n"
        + reference_body(output_error_term="error * sigmoid(out) * (1 - sigmoid(out))"), (),
        [("output_error_term", "output_sigmoid_applied_twice")]),
    "pre-activation-sum": (
        "output_in = np.sum(hidden_layer_out * weights_hidden_to_output)\n"
        + reference_body(output_error_term="error * output_in * (1 - output_in)"), (),
        [("output_error_term", "output_derivative_of_pre_activation")]),
    "pre-activation-helper": (reference_body(output_error_term="error * derivative(hidden_layer_out @ weights_hidden_to_output)"),
                              (DERIVATIVE,), [("output_error_term", "output_derivative_of_pre_activation")]),
    "hidden-from-raw-error-dot": (reference_body(hidden_error="np.dot(error, weights_hidden_to_output)"), (),
                                  [("hidden_error", "hidden_error_from_raw_error")]),
    "hidden-from-error-and-activations": (reference_body(hidden_error="error * hidden_layer_out"), (),
                                          [("hidden_error", "hidden_error_from_activations")]),
    "hidden-twice-exp-inline": (
        reference_body(hidden_error_term="hidden_error * (1/(1+np.exp(-hidden_layer_out)))"
                                         " * (1 - 1/(1+np.exp(-hidden_layer_out)))"),
        (), [("hidden_error_term", "hidden_sigmoid_applied_twice")]),
    "hidden-output-derivative-shared": (
        "d_out = output_layer_out * (1 - output_layer_out)\n"
        + reference_body(output_error_term="error * d_out", hidden_error_term="hidden_error * d_out"), (),
        [("hidden_error_term", "hidden_derivative_of_output_unit")]),
    "x-first": (reference_body(delta_w_h_o="learnrate * x * output_error_term"), (),
                [("delta_w_h_o", "input_instead_of_hidden_activations")]),
    "minus-parenthesised": (reference_body(delta_w_h_o="-(learnrate * output_error_term * hidden_layer_out)"), (),
                            [("delta_w_h_o", "update_sign_flipped_hidden_to_output")]),
    "outer-then-T": (reference_body(delta_w_i_h="learnrate * np.outer(x, hidden_error_term).T"), (),
                     [("delta_w_i_h", "outer_product_transposed")]),
    "broadcast-then-T": (reference_body(delta_w_i_h="learnrate * (x[:, None] * hidden_error_term).T"), (),
                         [("delta_w_i_h", "outer_product_transposed")]),
    "loops-transposed": (LOOPS_TRANSPOSED, (), [("delta_w_i_h", "outer_product_transposed")]),
    "float32-transposed": (FLOAT32 + reference_body(delta_w_i_h="learnrate * np.outer(hidden_error_term, x)"), (),
                           [("delta_w_i_h", "outer_product_transposed")]),
    "column-x-transposed": ("x = x[:, None]\n" + reference_body(delta_w_i_h="learnrate * hidden_error_term[:, None] * x.T"),
                            (), [("delta_w_i_h", "outer_product_transposed")]),
    "column-x-no-learnrate": ("x = np.array(x, ndmin=2).T\n" + reference_body(delta_w_i_h="hidden_error_term * x"), (),
                              [("delta_w_i_h", "learnrate_missing_input_to_hidden")]),
    "multiply-no-axis": (reference_body(delta_w_i_h="np.multiply(hidden_error_term, x) * learnrate"), (),
                         [("delta_w_i_h", "outer_product_missing_new_axis")]),
    "dot-method": (reference_body(delta_w_i_h="learnrate * x.dot(hidden_error_term)"), (),
                   [("delta_w_i_h", "dot_product_instead_of_outer")]),
    "matmul-operator-vectors": (reference_body(delta_w_i_h="learnrate * (x @ hidden_error_term)"), (),
                                [("delta_w_i_h", "dot_product_instead_of_outer")]),
    "output-term-flat": (reference_body(delta_w_i_h="learnrate * output_error_term * x"), (),
                         [("delta_w_i_h", "output_error_term_in_input_to_hidden")]),
    "hidden-error-broadcast": (reference_body(delta_w_i_h="learnrate * hidden_error * x[:, None]"), (),
                               [("delta_w_i_h", "hidden_error_without_derivative_in_input_to_hidden")]),
    # Two mistakes in different steps: each named at its own step.
    "two-no-learnrate": (reference_body(delta_w_h_o="output_error_term * hidden_layer_out",
                                        delta_w_i_h="np.outer(x, hidden_error_term)"), (),
                         [("delta_w_h_o", "learnrate_missing_hidden_to_output"),
                          ("delta_w_i_h", "learnrate_missing_input_to_hidden")]),
    "two-no-learnrate-no-hidden-error": (NO_HIDDEN_ERROR_NO_LEARNRATE, (),
                                         [("delta_w_h_o", "learnrate_missing_hidden_to_output"),
                                          ("delta_w_i_h", "learnrate_missing_input_to_hidden")]),
    "two-derivatives-missing": (reference_body(output_error_term="error", hidden_error_term="hidden_error"), (),
                                [("output_error_term", "output_derivative_missing"),
                                 ("hidden_error_term", "hidden_derivative_missing")]),
    "two-hidden-derivative-dot": (reference_body(hidden_error_term="hidden_error",
                                                 delta_w_i_h="learnrate * np.dot(x, hidden_error_term)"), (),
                                  [("hidden_error_term", "hidden_derivative_missing"),
                                   ("delta_w_i_h", "dot_product_instead_of_outer")]),
    "two-flip-and-x": (reference_body(error="output_layer_out - target", delta_w_h_o="learnrate * output_error_term * x"), (),
                       [("error", "error_sign_flipped"), ("delta_w_h_o", "input_instead_of_hidden_activations")]),
    "two-activations-transposed": (reference_body(hidden_error="output_error_term * hidden_layer_out",
                                                  delta_w_i_h="learnrate * np.outer(hidden_error_term, x)"), (),
                                   [("hidden_error", "hidden_error_from_activations"),
                                    ("delta_w_i_h", "outer_product_transposed")]),
    "two-loss-and-minus": (reference_body(error="(target - output_layer_out) ** 2",
                                          delta_w_h_o="-learnrate * output_error_term * hidden_layer_out"), (),
                           [("error", "error_is_the_loss"), ("delta_w_h_o", "update_sign_flipped_hidden_to_output")]),
    # Renamed intermediates: only the returned deltas are judged, against the reference's intermediates.
    "renamed-no-learnrate": (renamed(dw_ho="d_o * hidden_layer_out", dw_ih="np.outer(x, d_h)"), (),
                             [("delta_w_h_o", "learnrate_missing_hidden_to_output"),
                              ("delta_w_i_h", "learnrate_missing_input_to_hidden")]),
    "renamed-transposed": (renamed(dw_ih="learnrate * np.outer(d_h, x)"), (), [("delta_w_i_h", "outer_product_transposed")]),
    "renamed-x": (renamed(dw_ho="learnrate * d_o * x"), (), [("delta_w_h_o", "input_instead_of_hidden_activations")]),
    "renamed-hidden-derivative-missing": (renamed(d_h="d_o * weights_hidden_to_output"), (),
                                          [("delta_w_i_h", "hidden_error_without_derivative_in_input_to_hidden")]),
}

# Correct in styles not covered elsewhere: full marks, no diagnosis, no gradient-check remark.
CORRECT: dict[str, tuple[str, tuple[str, ...]]] = {
    "einsum": (reference_body(hidden_error="np.einsum('j,->j', weights_hidden_to_output, output_error_term)",
                              delta_w_i_h="learnrate * np.einsum('i,j->ij', x, hidden_error_term)"), ()),
    "multiply-outer": (reference_body(delta_w_i_h="learnrate * np.multiply.outer(x, hidden_error_term)"), ()),
    "matmul-reshapes": (reference_body(
        hidden_error="(np.array(output_error_term).reshape(1, 1) @ weights_hidden_to_output.reshape(1, -1)).ravel()",
        delta_w_i_h="learnrate * (x.reshape(-1, 1) @ hidden_error_term.reshape(1, -1))"), ()),
    "atleast-2d": (reference_body(hidden_error="output_error_term * weights_hidden_to_output.T",
                                  delta_w_i_h="learnrate * np.atleast_2d(x).T @ np.atleast_2d(hidden_error_term)"), ()),
    "dot-of-column-and-row": (reference_body(hidden_error="np.dot(weights_hidden_to_output, output_error_term)",
                                             delta_w_i_h="learnrate * np.dot(x[:, None], hidden_error_term[None, :])"), ()),
    "other-sign-convention": (reference_body(error="output_layer_out - target",
                                             delta_w_h_o="-learnrate * output_error_term * hidden_layer_out",
                                             delta_w_i_h="-learnrate * np.outer(x, hidden_error_term)"), ()),
    "sigmoid-of-pre-activation": ("z = np.dot(hidden_layer_out, weights_hidden_to_output)\n"
                                  + reference_body(output_error_term="error * sigmoid(z) * (1 - sigmoid(z))"), ()),
    "learnrate-in-error-terms": ("""
        error = target - output_layer_out
        output_error_term = learnrate * error * output_layer_out * (1 - output_layer_out)
        hidden_error = output_error_term * weights_hidden_to_output
        hidden_error_term = hidden_error * hidden_layer_out * (1 - hidden_layer_out)
        delta_w_h_o = output_error_term * hidden_layer_out
        delta_w_i_h = np.outer(x, hidden_error_term)
        return delta_w_h_o, delta_w_i_h
        """, ()),
    "name-reused": ("""
        error = target - output_layer_out
        output_error_term = error * output_layer_out * (1 - output_layer_out)
        hidden_error = np.dot(output_error_term, weights_hidden_to_output)
        hidden_error = hidden_error * hidden_layer_out * (1 - hidden_layer_out)
        delta_w_h_o = learnrate * output_error_term * hidden_layer_out
        delta_w_i_h = learnrate * np.outer(x, hidden_error)
        return delta_w_h_o, delta_w_i_h
        """, ()),
    "accumulated": ("""
        error = target - output_layer_out
        output_error_term = error * output_layer_out * (1 - output_layer_out)
        hidden_error = np.dot(output_error_term, weights_hidden_to_output)
        hidden_error_term = hidden_error * hidden_layer_out * (1 - hidden_layer_out)
        delta_w_h_o = np.zeros(weights_hidden_to_output.shape)
        delta_w_i_h = np.zeros((x.shape[0], hidden_layer_out.shape[0]))
        delta_w_h_o += learnrate * output_error_term * hidden_layer_out
        delta_w_i_h += learnrate * hidden_error_term * x[:, None]
        return delta_w_h_o, delta_w_i_h
        """, ()),
    "error-in-a-length-1-array": (reference_body(error="np.array([target - output_layer_out])",
                                                 hidden_error="output_error_term * weights_hidden_to_output"), ()),
    "column-x": ("x = x[:, None]\n" + reference_body(delta_w_i_h="learnrate * hidden_error_term * x"), ()),
    "no-hidden-error-variable": ("""
        error = target - output_layer_out
        output_error_term = error * output_layer_out * (1 - output_layer_out)
        hidden_error_term = np.dot(output_error_term, weights_hidden_to_output) * hidden_layer_out * (1 - hidden_layer_out)
        delta_w_h_o = learnrate * output_error_term * hidden_layer_out
        delta_w_i_h = learnrate * hidden_error_term * x[:, None]
        return delta_w_h_o, delta_w_i_h
        """, ()),
    "list-appends": ("""
        error = target - output_layer_out
        output_error_term = error * output_layer_out * (1 - output_layer_out)
        hidden_error = []
        for w in weights_hidden_to_output:
            hidden_error.append(w * output_error_term)
        hidden_error_term = []
        for e, h in zip(hidden_error, hidden_layer_out):
            hidden_error_term.append(e * h * (1 - h))
        delta_w_h_o = [learnrate * output_error_term * h for h in hidden_layer_out]
        delta_w_i_h = [[learnrate * xi * t for t in hidden_error_term] for xi in x]
        return delta_w_h_o, delta_w_i_h
        """, ()),
    "renamed-partly": ("""
        error = target - output_layer_out
        delta_out = error * output_layer_out * (1 - output_layer_out)
        back = delta_out * weights_hidden_to_output
        delta_hidden = back * hidden_layer_out * (1 - hidden_layer_out)
        delta_w_h_o = learnrate * delta_out * hidden_layer_out
        delta_w_i_h = learnrate * np.outer(x, delta_hidden)
        return delta_w_h_o, delta_w_i_h
        """, ()),
}

# Once gaps, now named: mistakes one step after the error, renamed steps, crashes.
GAPS: dict[str, tuple[str, tuple[str, ...]]] = {
    # The sign flipped one step later than `error`.
    "flip-in-output-term": (reference_body(output_error_term="-error * output_layer_out * (1 - output_layer_out)"), ()),
    "flip-in-hidden-error": (reference_body(hidden_error="-np.dot(output_error_term, weights_hidden_to_output)"), ()),
    # Renamed intermediates with a mistake upstream of the deltas.
    "renamed-flip": (renamed(err="output_layer_out - target"), ()),
    "renamed-loss": (renamed(err="(target - output_layer_out) ** 2"), ()),
    "renamed-output-twice": (renamed(d_o="err * sigmoid(output_layer_out) * (1 - sigmoid(output_layer_out))"), ()),
    "renamed-hidden-twice": (
        renamed(d_h="d_o * weights_hidden_to_output * sigmoid(hidden_layer_out) * (1 - sigmoid(hidden_layer_out))"), ()),
    "renamed-hidden-output-derivative": (
        renamed(d_h="d_o * weights_hidden_to_output * output_layer_out * (1 - output_layer_out)"), ()),
    "renamed-hidden-from-activations": (renamed(d_h="d_o * hidden_layer_out * hidden_layer_out * (1 - hidden_layer_out)"), ()),
    # A crash, not a formula, is why the first wrong step has no value.
    "renamed-crash-in-last-line": (renamed(dw_ih="learnrate * np.dot(x, d_h)"), ()),
    "uses-the-global-weights": (
        "hidden_in = np.dot(x, weights_input_to_hidden)\n"
        + reference_body(hidden_error_term="hidden_error * sigmoid(hidden_in) * (1 - sigmoid(hidden_in))"), ()),
}


@pytest.fixture(scope="module")
def graded(tmp_path_factory, run_grade) -> dict[str, dict]:
    folder = tmp_path_factory.mktemp("review")
    for group in (SPELLINGS, CORRECT, GAPS):
        for student, (body, helpers, *_) in group.items():
            write(student_notebook(body, helper_cells=helpers), folder / f"{student}.ipynb")
    run = run_grade(folder, jobs=None)
    assert run.exit_code == 0, run.stderr
    return {row["student"]: row for row in run.doc["submissions"]}


@pytest.mark.parametrize("student", list(SPELLINGS))
def test_other_spellings_and_combinations_are_named(graded, student):
    row = graded[student]
    expected = SPELLINGS[student][2]
    assert row["status"] == "graded", row["messages"]
    assert [(d["step"], d["misconception"]) for d in row["diagnoses"]] == expected, row["diagnoses"]
    statuses = {name: step["status"] for name, step in steps_of(row).items()}
    assert all(statuses[step] == "fail" for step, _ in expected), statuses


@pytest.mark.parametrize("student", list(CORRECT))
def test_more_correct_styles_get_full_marks_and_no_diagnosis(graded, student):
    row = graded[student]
    assert row["score"] == row["max_score"], row["steps"]
    assert row["diagnoses"] == []
    assert not [message for message in row["messages"] if message.startswith("Gradient check")]


@pytest.mark.parametrize("student", ["flip-in-output-term", "flip-in-hidden-error"])
def test_sign_flipped_after_the_error_step_is_named(graded, student):
    row = graded[student]
    step = {"flip-in-output-term": "output_error_term", "flip-in-hidden-error": "hidden_error"}[student]
    assert [d["step"] for d in row["diagnoses"]] == [step], row["diagnoses"]


def test_renamed_flipped_error_is_not_blamed_on_a_minus_in_front(graded):
    row = graded["renamed-flip"]
    assert row["diagnoses"]
    assert not [d for d in row["diagnoses"] if "minus sign in front" in d["message"]], row["diagnoses"]


@pytest.mark.parametrize("student", ["renamed-loss", "renamed-output-twice", "renamed-hidden-twice",
                                     "renamed-hidden-output-derivative", "renamed-hidden-from-activations"])
def test_renamed_upstream_mistake_is_named(graded, student):
    assert graded[student]["diagnoses"], [(s["name"], s["status"]) for s in graded[student]["steps"]]


@pytest.mark.parametrize(("student", "misleading_hint"), [
    ("renamed-crash-in-last-line", "learnrate times the output error term times the activations"),
    ("uses-the-global-weights", "which one do you subtract from which"),
])
def test_no_formula_hint_for_a_step_that_only_lacks_a_value(graded, student, misleading_hint):
    assert not [m for m in graded[student]["messages"] if misleading_hint in m], graded[student]["messages"]
