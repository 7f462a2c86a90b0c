"""Correct solutions written in other styles than the reference all get full marks."""

from __future__ import annotations

import pytest

from tests.notebooks import STEPS, reference_body, student_notebook, write

RENAMED_AND_INLINED = """
d_out = (target - output_layer_out) * output_layer_out * (1 - output_layer_out)
d_hid = d_out * weights_hidden_to_output * hidden_layer_out * (1 - hidden_layer_out)
return learnrate * d_out * hidden_layer_out, learnrate * np.outer(x, d_hid)
"""

MATMUL = reference_body(
    hidden_error="np.array([output_error_term]) @ weights_hidden_to_output[None, :]",
    delta_w_i_h="learnrate * np.matmul(x[:, None], hidden_error_term[None, :])",
)

BROADCASTING = reference_body(delta_w_i_h="learnrate * x[:, None] * hidden_error_term")

LOOPS = """
error = target - output_layer_out
output_error_term = error * output_layer_out * (1 - output_layer_out)
n_hidden = len(weights_hidden_to_output)
hidden_error = np.zeros(n_hidden)
hidden_error_term = np.zeros(n_hidden)
delta_w_h_o = np.zeros(n_hidden)
for j in range(n_hidden):
    hidden_error[j] = output_error_term * weights_hidden_to_output[j]
    hidden_error_term[j] = hidden_error[j] * hidden_layer_out[j] * (1 - hidden_layer_out[j])
    delta_w_h_o[j] = learnrate * output_error_term * hidden_layer_out[j]
delta_w_i_h = np.zeros((len(x), n_hidden))
for i in range(len(x)):
    for j in range(n_hidden):
        delta_w_i_h[i, j] = learnrate * x[i] * hidden_error_term[j]
return delta_w_h_o, delta_w_i_h
"""

FLOAT32 = """
x = np.asarray(x, dtype=np.float32)
target = np.float32(target)
learnrate = np.float32(learnrate)
hidden_layer_out = np.asarray(hidden_layer_out, dtype=np.float32)
output_layer_out = np.float32(output_layer_out)
weights_hidden_to_output = np.asarray(weights_hidden_to_output, dtype=np.float32)
""" + reference_body()

TOLIST_TUPLE = reference_body().replace("return delta_w_h_o, delta_w_i_h", "return delta_w_h_o.tolist(), delta_w_i_h.tolist()")
LIST_RETURN = reference_body().replace("return delta_w_h_o, delta_w_i_h", "return [delta_w_h_o, delta_w_i_h]")

SIGMOID_PRIME_CELL = '''
def sigmoid_prime(activation):
    """The sigmoid's derivative, written with its output."""
    return activation * (1 - activation)
'''
WITH_HELPER = reference_body(
    output_error_term="error * sigmoid_prime(output_layer_out)",
    hidden_error_term="hidden_error * sigmoid_prime(hidden_layer_out)",
)

# student id -> (body, helper cells)
STYLES: dict[str, tuple[str, tuple[str, ...]]] = {
    "renamed_and_inlined": (RENAMED_AND_INLINED, ()),
    "matmul": (MATMUL, ()),
    "broadcasting": (BROADCASTING, ()),
    "loops": (LOOPS, ()),
    "float32": (FLOAT32, ()),
    "tolist_tuple": (TOLIST_TUPLE, ()),
    "list_return": (LIST_RETURN, ()),
    "helper_in_another_cell": (WITH_HELPER, (SIGMOID_PRIME_CELL,)),
}


@pytest.fixture(scope="module")
def graded(tmp_path_factory, run_grade):
    folder = tmp_path_factory.mktemp("styles")
    for student, (body, helpers) in STYLES.items():
        write(student_notebook(body, helper_cells=helpers), folder / f"{student}.ipynb")
    run = run_grade(folder)
    assert run.exit_code == 0, run.stderr
    return run


@pytest.mark.parametrize("student", list(STYLES))
def test_correct_style_gets_full_marks(graded, student):
    row = graded.submission(student)
    assert row["status"] == "graded"
    assert (row["score"], row["max_score"]) == (10, 10), [(s["name"], s["status"], s["message"]) for s in row["steps"]]
    assert [step["status"] for step in row["steps"]] == ["pass"] * len(STEPS)
    assert row["first_wrong_step"] is None


def test_renamed_steps_count_because_the_deltas_are_right(graded):
    steps = {step["name"]: step for step in graded.submission("renamed_and_inlined")["steps"]}
    for name in STEPS[:4]:
        assert "counts as right" in steps[name]["message"], steps[name]
