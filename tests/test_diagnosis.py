"""Named misconceptions: each catalogue entry is recognised at its step, correct styles never are."""

from __future__ import annotations

import tomllib

import pytest

from grader.judge.feedback import SWAPPED_RETURN
from tests.feedback_notebooks import by_student, run_grade
from tests.notebooks import SOLUTIONS, reference_body, student_notebook, write

SIGMOID_PRIME = "def sigmoid_prime(x):\n    return sigmoid(x) * (1 - sigmoid(x))\n"

# misconception -> (step it is found at, body of backward_pass as a student writes it, helper cells)
EXHIBITS: dict[str, tuple[str, str, tuple[str, ...]]] = {
    "error_sign_flipped": ("error", reference_body(error="output_layer_out - target"), ()),
    "error_is_the_loss": ("error", reference_body(error="np.square(target - output_layer_out)"), ()),
    "error_doubled": ("error", reference_body(error="2 * (target - output_layer_out)"), ()),
    "output_derivative_missing": ("output_error_term", reference_body(output_error_term="error"), ()),
    "output_error_missing": (
        "output_error_term", reference_body(output_error_term="output_layer_out * (1 - output_layer_out)"), ()),
    "output_sigmoid_applied_twice": (
        "output_error_term", reference_body(output_error_term="error * sigmoid_prime(output_layer_out)"), (SIGMOID_PRIME,)),
    "output_derivative_of_pre_activation": (
        "output_error_term", "output_layer_in = np.dot(hidden_layer_out, weights_hidden_to_output)\n"
        + reference_body(output_error_term="error * output_layer_in * (1 - output_layer_in)"), ()),
    "output_derivative_parentheses": (
        "output_error_term", reference_body(output_error_term="error * output_layer_out * 1 - output_layer_out"), ()),
    "hidden_error_from_activations": (
        "hidden_error", reference_body(hidden_error="np.dot(output_error_term, hidden_layer_out)"), ()),
    "hidden_error_from_raw_error": ("hidden_error", reference_body(hidden_error="weights_hidden_to_output * error"), ()),
    "hidden_error_divided_by_weights": (
        "hidden_error", reference_body(hidden_error="output_error_term / weights_hidden_to_output"), ()),
    "hidden_derivative_missing": ("hidden_error_term", reference_body(hidden_error_term="hidden_error"), ()),
    "hidden_sigmoid_applied_twice": (
        "hidden_error_term", reference_body(hidden_error_term="hidden_error * sigmoid_prime(hidden_layer_out)"),
        (SIGMOID_PRIME,)),
    "hidden_derivative_of_output_unit": (
        "hidden_error_term", reference_body(hidden_error_term="hidden_error * output_layer_out * (1 - output_layer_out)"), ()),
    "hidden_derivative_parentheses": (
        "hidden_error_term", reference_body(hidden_error_term="hidden_error * hidden_layer_out * 1 - hidden_layer_out"), ()),
    "learnrate_missing_hidden_to_output": ("delta_w_h_o", reference_body(delta_w_h_o="output_error_term * hidden_layer_out"), ()),
    "input_instead_of_hidden_activations": ("delta_w_h_o", reference_body(delta_w_h_o="learnrate * output_error_term * x"), ()),
    "raw_error_in_hidden_to_output": ("delta_w_h_o", reference_body(delta_w_h_o="learnrate * error * hidden_layer_out"), ()),
    "output_activation_in_hidden_to_output": (
        "delta_w_h_o", reference_body(delta_w_h_o="learnrate * output_error_term * output_layer_out"), ()),
    "update_sign_flipped_hidden_to_output": (
        "delta_w_h_o", reference_body(delta_w_h_o="-learnrate * output_error_term * hidden_layer_out"), ()),
    "learnrate_divides_hidden_to_output": (
        "delta_w_h_o", reference_body(delta_w_h_o="output_error_term * hidden_layer_out / learnrate"), ()),
    "hidden_error_term_in_hidden_to_output": (
        "delta_w_h_o", reference_body(delta_w_h_o="learnrate * hidden_error_term * hidden_layer_out"), ()),
    "learnrate_divides_input_to_hidden": (
        "delta_w_i_h", reference_body(delta_w_i_h="np.outer(x, hidden_error_term) / learnrate"), ()),
    "learnrate_missing_input_to_hidden": ("delta_w_i_h", reference_body(delta_w_i_h="hidden_error_term * x[:, None]"), ()),
    "outer_product_transposed": ("delta_w_i_h", reference_body(delta_w_i_h="learnrate * hidden_error_term[:, None] * x"), ()),
    "outer_product_missing_new_axis": ("delta_w_i_h", reference_body(delta_w_i_h="learnrate * hidden_error_term * x.T"), ()),
    "dot_product_instead_of_outer": ("delta_w_i_h", reference_body(delta_w_i_h="learnrate * np.dot(x, hidden_error_term)"), ()),
    "output_error_term_in_input_to_hidden": (
        "delta_w_i_h", reference_body(delta_w_i_h="learnrate * output_error_term * x[:, None]"), ()),
    "hidden_error_without_derivative_in_input_to_hidden": (
        "delta_w_i_h", reference_body(delta_w_i_h="learnrate * np.outer(x, hidden_error)"), ()),
    "update_sign_flipped_input_to_hidden": (
        "delta_w_i_h", reference_body(delta_w_i_h="-np.outer(x, hidden_error_term) * learnrate"), ()),
    "output_error_term_sign_flipped": (
        "output_error_term", reference_body(output_error_term="error * output_layer_out * (output_layer_out - 1)"), ()),
    "hidden_error_sign_flipped": (
        "hidden_error", reference_body(hidden_error="-(weights_hidden_to_output * output_error_term)"), ()),
    SWAPPED_RETURN: (
        "delta_w_h_o", reference_body().replace("return delta_w_h_o, delta_w_i_h", "return delta_w_i_h, delta_w_h_o"), ()),
}

# Correct solutions in the styles students use: none may get a diagnosis or a gradient-check remark.
CORRECT: dict[str, tuple[str, tuple[str, ...]]] = {
    "reference": (reference_body(), ()),
    "renamed_inlined": ("""
        err = target - output_layer_out
        d_out = err * output_layer_out * (1 - output_layer_out)
        d_hid = weights_hidden_to_output * d_out * hidden_layer_out * (1 - hidden_layer_out)
        return learnrate * d_out * hidden_layer_out, learnrate * x[:, None] * d_hid
        """, ()),
    "matmul": (reference_body(hidden_error="output_error_term * weights_hidden_to_output",
                              delta_w_i_h="learnrate * (x[:, None] @ hidden_error_term[None, :])"), ()),
    "broadcasting": (reference_body(delta_w_i_h="learnrate * hidden_error_term * x[:, np.newaxis]"), ()),
    "loops": ("""
        error = target - output_layer_out
        output_error_term = error * output_layer_out * (1 - output_layer_out)
        hidden_error = [output_error_term * w for w in weights_hidden_to_output]
        hidden_error_term = [e * h * (1 - h) for e, h in zip(hidden_error, hidden_layer_out)]
        delta_w_h_o = [learnrate * output_error_term * h for h in hidden_layer_out]
        delta_w_i_h = np.zeros((len(x), len(hidden_error_term)))
        for i in range(len(x)):
            for j in range(len(hidden_error_term)):
                delta_w_i_h[i, j] = learnrate * x[i] * hidden_error_term[j]
        return delta_w_h_o, delta_w_i_h
        """, ()),
    "float32": ("""
        x, h, out = (np.asarray(v, dtype=np.float32) for v in (x, hidden_layer_out, output_layer_out))
        w = np.asarray(weights_hidden_to_output, dtype=np.float32)
        error = np.float32(target) - out
        output_error_term = error * out * (1 - out)
        hidden_error = output_error_term * w
        hidden_error_term = hidden_error * h * (1 - h)
        delta_w_h_o = np.float32(learnrate) * output_error_term * h
        delta_w_i_h = np.float32(learnrate) * np.outer(x, hidden_error_term)
        return delta_w_h_o, delta_w_i_h
        """, ()),
    "lists": (reference_body().replace("return delta_w_h_o, delta_w_i_h",
                                       "return list(delta_w_h_o), [list(row) for row in delta_w_i_h]"), ()),
    "helper_derivative": (reference_body(output_error_term="error * derivative(output_layer_out)",
                                         hidden_error_term="hidden_error * derivative(hidden_layer_out)"),
                          ("def derivative(activation):\n    return activation * (1 - activation)\n",)),
}
# Two independent mistakes: each is named at its own step, the later one judged from the student's own earlier values.
TWO_MISTAKES = reference_body(error="output_layer_out - target", delta_w_i_h="learnrate * np.outer(hidden_error_term, x)")


@pytest.fixture(scope="module")
def graded(tmp_path_factory) -> dict[str, dict]:
    """Every notebook of this module, graded in one invocation of the real CLI."""
    folder = tmp_path_factory.mktemp("diagnosis")
    for name, (_, body, helpers) in EXHIBITS.items():
        write(student_notebook(body, helper_cells=helpers), folder / f"mistake-{name}.ipynb")
    for name, (body, helpers) in CORRECT.items():
        write(student_notebook(body, helper_cells=helpers), folder / f"correct-{name}.ipynb")
    write(student_notebook(TWO_MISTAKES), folder / "two-mistakes.ipynb")
    code, document, stderr = run_grade(folder)
    assert code == 0, stderr
    return by_student(document)


def test_every_catalogue_entry_has_a_notebook_exhibiting_it():
    catalogue = tomllib.loads((SOLUTIONS / "backward_pass" / "misconceptions.toml").read_text(encoding="utf-8"))
    names = {entry["name"] for entry in catalogue["misconception"]}
    assert len(names) >= 10
    assert names | {SWAPPED_RETURN} == set(EXHIBITS)


@pytest.mark.parametrize("name", list(EXHIBITS))
def test_mistake_is_named_exactly_at_its_step(graded, name):
    row = graded[f"mistake-{name}"]
    step = EXHIBITS[name][0]
    assert row["status"] == "graded", row["messages"]
    assert [(d["step"], d["misconception"]) for d in row["diagnoses"]] == [(step, name)], row["diagnoses"]
    assert {s["name"]: s["status"] for s in row["steps"]}[step] == "fail"
    assert "Hint: " in row["diagnoses"][0]["message"]


@pytest.mark.parametrize("name", list(CORRECT))
def test_correct_styles_get_no_diagnosis(graded, name):
    row = graded[f"correct-{name}"]
    assert row["score"] == row["max_score"], row["steps"]
    assert row["diagnoses"] == []
    assert not [message for message in row["messages"] if message.startswith("Gradient check")]


def test_two_mistakes_are_each_named(graded):
    row = graded["two-mistakes"]
    assert [(d["step"], d["misconception"]) for d in row["diagnoses"]] == [
        ("error", "error_sign_flipped"), ("delta_w_i_h", "outer_product_transposed")]


def test_missing_new_axis_is_explained_in_words(graded):
    row = graded["mistake-outer_product_missing_new_axis"]
    step = {s["name"]: s for s in row["steps"]}["delta_w_i_h"]
    assert "raised" in step["message"] and "hidden cases: wrong on" in step["message"]
    assert any("broadcast" in message for message in row["messages"]), row["messages"]


def test_gradient_check_tells_uphill_and_constant_factors(graded):
    uphill = graded["mistake-error_sign_flipped"]["messages"]
    assert any("delta_w_h_o and delta_w_i_h are exactly the opposite of the gradient-descent step" in m for m in uphill)
    doubled = graded["mistake-error_doubled"]["messages"]
    assert any("are 2 times the gradient-descent step" in m for m in doubled), doubled
    flipped_update = graded["mistake-update_sign_flipped_input_to_hidden"]["messages"]
    assert any("your delta_w_i_h is exactly the opposite" in m for m in flipped_update), flipped_update
