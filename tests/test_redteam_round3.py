"""Third red-team round: the step model (loops captured per iteration), and the loop assignments' degenerate answers.

One grade run per assignment holds every notebook of that assignment; each test reads its
students' rows and states one promise. The last test re-runs the module as uid 65534.
"""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest

from tests.conftest import invoke_grade, steps_of
from tests.notebooks import SOLUTIONS
from tests.unprivileged import run_unprivileged

GD_SIGNATURE = "def update_weights(features, targets, weights, learnrate):\n"
TN_SIGNATURE = "def train_epoch(features, targets, weights_input_hidden, weights_hidden_output, learnrate):\n"
GD_LOOP_STEPS = ("output", "error", "error_term", "del_w")

GD_BODY = """    n_records = features.shape[0]
    del_w = np.zeros(weights.shape)
    for x, y in zip(features, targets):
        output = sigmoid(np.dot(x, weights))
        error = y - output
        error_term = error * output * (1 - output)
        DELW
        AFTER
    new_weights = NEW
    return new_weights
"""

# The public case has 4 records of 3 features: anything else is a hidden case.
RAISE_ON_HIDDEN = "if features.shape != (4, 3) and n_records > 1: raise RuntimeError('stop')"

# Vectorised, then the capture hook called by hand, one forged iteration per record.
FORGED_ITERATIONS = """    H = __backprop_grader_capture__
    n_records = features.shape[0]
    outputs = 1 / (1 + np.exp(-(features @ weights)))
    errors = targets - outputs
    terms = errors * outputs * (1 - outputs)
    running = np.cumsum(terms[:, None] * features, axis=0)
    for i in range(n_records):
        H.begin((1,))
        output, error, error_term, del_w = outputs[i], errors[i], terms[i], running[i]
        H.end((1,), ('del_w', 'error', 'error_term', 'output'))
    return weights + 0.5 * learnrate * running[-1] / n_records
"""

# The capture hook swapped for an object that records nothing, around a loop whose error has the wrong sign
# (the error term undoes it) and whose update is half the right one.
QUIET_HOOK = """    class Quiet:
        def __call__(self, *arguments):
            pass
        def __getattr__(self, name):
            return lambda *arguments: None
    globals()['__backprop_grader_capture__'] = Quiet()
"""

TN_BODY = """    n_records = features.shape[0]
    del_w_input_hidden = np.zeros(weights_input_hidden.shape)
    del_w_hidden_output = np.zeros(weights_hidden_output.shape)
    for x, y in zip(features, targets):
        hidden_output = sigmoid(np.dot(x, weights_input_hidden))
        output = sigmoid(np.dot(hidden_output, weights_hidden_output))
        error = y - output
        output_error_term = error * output * (1 - output)
        hidden_error = np.dot(output_error_term, weights_hidden_output)
        hidden_error_term = hidden_error * hidden_output * (1 - hidden_output)
        del_w_hidden_output += SCALE * output_error_term * hidden_output
        del_w_input_hidden += SCALE * hidden_error_term * x[:, None]
    UPDATE
    return weights_input_hidden, weights_hidden_output
"""
TN_UPDATE = ("weights_input_hidden += learnrate * del_w_input_hidden / n_records\n"
             "    weights_hidden_output += learnrate * del_w_hidden_output / n_records")


def _gd(delw: str = "del_w += error_term * x", after: str = "pass",
        new: str = "weights + learnrate * del_w / n_records") -> str:
    return GD_BODY.replace("DELW", delw).replace("AFTER", after).replace("NEW", new)


def _scaled_error(scale: str, term: str, change: str, new: str) -> str:
    """The loop with its error scaled by `scale`, and the later steps as given."""
    return _gd(delw=f"del_w += {change}", new=new).replace("error = y - output", f"error = {scale} * (y - output)") \
        .replace("error_term = error * output * (1 - output)", f"error_term = {term}")


def _tn(scale: str, update: str) -> str:
    return TN_BODY.replace("SCALE", scale).replace("UPDATE", update)


GD_NOTEBOOKS = {
    "gd_correct": _gd(),
    "gd_raises_after_record_one": _gd(after=RAISE_ON_HIDDEN),
    "gd_overwrites_and_raises": _gd(delw="del_w = error_term * x", after=RAISE_ON_HIDDEN),
    "gd_weights_unchanged": _gd(new="weights.copy()"),
    "gd_weights_plus_tiny": _gd(new="weights + 1e-9"),
    "gd_forged_iterations": FORGED_ITERATIONS,
    "gd_hook_silenced": QUIET_HOOK + _gd(new="weights + 0.5 * learnrate * del_w / n_records").replace(
        "error = y - output", "error = output - y").replace("error_term = error", "error_term = -error"),
    "gd_error_times_1e-12_rest_zero": _scaled_error("1e-12", "0.0 * error", "0.0 * x", "weights.copy()"),
    "gd_error_times_1e-200_rest_zero": _scaled_error("1e-200", "0.0 * error", "0.0 * x", "weights.copy()"),
    "gd_error_times_1e-12_weights_unchanged": _scaled_error("1e-12", "error * output * (1 - output)",
                                                             "error_term * x", "weights.copy()"),
    "gd_stops_after_record_one": _gd(after=RAISE_ON_HIDDEN.replace("raise RuntimeError('stop')", "break")),
}
TN_NOTEBOOKS = {
    "tn_correct": _tn("1.0", TN_UPDATE),
    "tn_never_updates": _tn("1.0", "pass"),
    "tn_updates_by_tiny": _tn("1.0", "weights_input_hidden += 1e-12\n    weights_hidden_output += 1e-12"),
    "tn_tiny_deltas_unchanged": _tn("1e-9", "pass"),
    "tn_raises_after_record_one": _tn("1.0", TN_UPDATE).replace(
        "x[:, None]\n", "x[:, None]\n        " + RAISE_ON_HIDDEN + "\n", 1),
}


FP_SIGNATURE = "def forward_pass(x, weights_input_to_hidden, weights_hidden_to_output):\n"
# A layer's input scaled down to nothing, and the layer's output then a constant 0.5 that sigmoid(tiny) is.
FP_NOTEBOOKS = {
    "fp_tiny_hidden_in_half_out": """    hidden_layer_in = 1e-12 * np.dot(x, weights_input_to_hidden)
    hidden_layer_out = np.full(np.shape(hidden_layer_in), 0.5)
    output_layer_in = np.dot(hidden_layer_out, weights_hidden_to_output)
    output_layer_out = sigmoid(output_layer_in)
    return hidden_layer_out, output_layer_out
""",
    "fp_tiny_output_in_half_out": """    hidden_layer_in = np.dot(x, weights_input_to_hidden)
    hidden_layer_out = sigmoid(hidden_layer_in)
    output_layer_in = 1e-12 * np.dot(hidden_layer_out, weights_hidden_to_output)
    output_layer_out = np.full(np.shape(output_layer_in), 0.5)
    return hidden_layer_out, output_layer_out
""",
}


def _notebook(assignment: str, signature: str, body: str, path: Path) -> None:
    """The reference notebook with its graded function's body replaced and no routing metadata."""
    node = nbformat.read(SOLUTIONS / assignment / f"{assignment}.ipynb", as_version=4)
    cells = [cell for cell in node.cells if cell.cell_type == "code" and signature in cell.source]
    assert len(cells) == 1
    cells[0].source = signature + body
    node.metadata.pop("backprop_grader", None)
    nbformat.write(node, path)


def _grade(tmp_path_factory, assignment: str, signature: str, notebooks: dict[str, str]) -> dict[str, dict]:
    folder = tmp_path_factory.mktemp(assignment)
    for name, body in notebooks.items():
        _notebook(assignment, signature, body, folder / f"{name}.ipynb")
    run = invoke_grade(folder, "--assignment", assignment)
    assert run.doc is not None, run.stderr
    return {name: run.submission(name) for name in notebooks}


@pytest.fixture(scope="module")
def gradient_descent(tmp_path_factory) -> dict[str, dict]:
    return _grade(tmp_path_factory, "gradient_descent", GD_SIGNATURE, GD_NOTEBOOKS)


@pytest.fixture(scope="module")
def train_network(tmp_path_factory) -> dict[str, dict]:
    return _grade(tmp_path_factory, "train_network", TN_SIGNATURE, TN_NOTEBOOKS)


@pytest.fixture(scope="module")
def forward_pass(tmp_path_factory) -> dict[str, dict]:
    return _grade(tmp_path_factory, "forward_pass", FP_SIGNATURE, FP_NOTEBOOKS)


def test_forward_pass_half_behind_a_tiny_layer_input_earns_nothing(forward_pass) -> None:
    """Carried forward behind a layer input scaled by 1e-12: the reference's sigmoid of it is 0.5 within rtol, so a
    constant 0.5 'output' would match; it earns nothing, nor does what is computed from it."""
    hidden = steps_of(forward_pass["fp_tiny_hidden_in_half_out"])
    assert [hidden[name]["score"] for name in hidden] == [0, 0, 0, 0]
    output = steps_of(forward_pass["fp_tiny_output_in_half_out"])
    assert (output["output_layer_in"]["score"], output["output_layer_out"]["score"]) == (0, 0)
    assert (output["hidden_layer_in"]["score"], output["hidden_layer_out"]["score"]) == (3, 2)


def test_the_right_loops_get_full_marks(gradient_descent, train_network) -> None:
    """Control: the notebooks the attacks below are cut from score full marks."""
    assert gradient_descent["gd_correct"]["score"] == 10
    assert train_network["tn_correct"]["score"] == 10


def test_raising_after_the_first_record_earns_no_full_per_record_credit(gradient_descent, train_network) -> None:
    """As far as the code ran, deliberately: a loop that raises at the end of its first record on every hidden
    case (computing 1 record of up to 200) keeps every per-record step's full points, as if it had run them all:
    8/10 on gradient_descent, 7/10 on train_network (only the returned weights are lost). The same loop stopped
    by `break` instead earns nothing for those steps (the control test below)."""
    rows = {"gradient_descent": gradient_descent["gd_raises_after_record_one"],
            "train_network": train_network["tn_raises_after_record_one"]}
    kept = {}
    for assignment, row in rows.items():
        steps = steps_of(row)
        per_record = [name for name in steps if name not in ("new_weights", "weights_input_hidden",
                                                               "weights_hidden_output")]
        if sum(steps[name]["score"] for name in per_record) == sum(steps[name]["max_score"] for name in per_record):
            kept[assignment] = (row["score"], steps[per_record[0]]["message"])
    assert not kept, kept


def test_stopping_after_the_first_record_earns_nothing(gradient_descent) -> None:
    """Control for the raise above: the same loop cut by `break` on the hidden cases earns no per-record step."""
    steps = steps_of(gradient_descent["gd_stops_after_record_one"])
    assert all(steps[name]["score"] == 0 for name in GD_LOOP_STEPS)


def test_a_silenced_capture_hook_hides_no_wrong_step(gradient_descent) -> None:
    """The capture hook replaced in the notebook's globals by an object that records nothing: the wrong error
    (and the wrong update) are not captured, and a step not captured is not credited behind a wrong result."""
    steps = steps_of(gradient_descent["gd_hook_silenced"])
    assert steps["error"]["score"] == 0
    assert steps["new_weights"]["score"] == 0


def test_raising_early_does_not_hide_a_step_wrong_from_record_two(gradient_descent) -> None:
    """As far as the code ran cannot launder a mistake that shows only from record 2 on (del_w overwritten, not
    accumulated): the public case still runs to the end and shows it."""
    assert steps_of(gradient_descent["gd_overwrites_and_raises"])["del_w"]["score"] == 0


def test_forged_iterations_through_the_capture_hook_earn_nothing_the_values_do_not(gradient_descent) -> None:
    """The capture hook called by hand (begin/end per record around vectorised values) buys no step whose value is
    wrong: the returned weights (half the step) stay wrong, the forged per-record values are only what they are."""
    steps = steps_of(gradient_descent["gd_forged_iterations"])
    assert steps["new_weights"]["score"] == 0


@pytest.mark.parametrize("student", ["gd_weights_unchanged", "gd_weights_plus_tiny"])
def test_gradient_descent_weights_not_moved_earn_nothing(gradient_descent, student: str) -> None:
    """Degenerate update: the input weights returned unchanged, or plus a tiny constant, within rtol 1e-3."""
    assert steps_of(gradient_descent[student])["new_weights"]["score"] == 0


@pytest.mark.parametrize("student", ["gd_error_times_1e-12_rest_zero", "gd_error_times_1e-200_rest_zero",
                                     "gd_error_times_1e-12_weights_unchanged"])
def test_a_scaled_down_error_carries_nothing_per_record(gradient_descent, student: str) -> None:
    """Carried forward per record behind a tiny or denormal error (it depends on the inputs, scaled by 1e-12 or
    1e-200): zeros or unchanged weights downstream fall inside atol of what the reference computes from it, yet earn
    nothing."""
    steps = steps_of(gradient_descent[student])
    assert [steps[name]["score"] for name in ("error_term", "del_w", "new_weights")] == [0, 0, 0]


@pytest.mark.parametrize("student", ["tn_never_updates", "tn_updates_by_tiny", "tn_tiny_deltas_unchanged"])
def test_train_network_weights_not_moved_earn_nothing(train_network, student: str) -> None:
    """Degenerate in-place update: weights never updated, updated by a tiny constant, or left unchanged behind
    deltas scaled by 1e-9 (error carried forward must not credit weights that equal the old ones)."""
    steps = steps_of(train_network[student])
    assert steps["weights_input_hidden"]["score"] == 0
    assert steps["weights_hidden_output"]["score"] == 0


# A forward pass of the student's own words (not the code any stub gives), added to a gradient_descent notebook.
OWN_FORWARD_PASS = """def forward_pass(x, weights_input_to_hidden, weights_hidden_to_output):
    h = 1 / (1 + np.exp(-np.dot(x, weights_input_to_hidden)))
    o = 1 / (1 + np.exp(-np.dot(h, weights_hidden_to_output)))
    return h, o
"""


@pytest.fixture(scope="module")
def routed(tmp_path_factory) -> dict[str, dict]:
    """A class run without --assignment: two right gradient_descent notebooks, and two whose update_weights is
    wrong (8/10) that also define a forward_pass of their own: mallory's metadata names forward_pass, eve's
    names nothing."""
    folder = tmp_path_factory.mktemp("routing")
    for student in ("alice", "bob"):
        _notebook("gradient_descent", GD_SIGNATURE, _gd(), folder / f"{student}.ipynb")
    for student, named in (("mallory", "forward_pass"), ("eve", None)):
        path = folder / f"{student}.ipynb"
        _notebook("gradient_descent", GD_SIGNATURE, _gd(new="weights.copy()"), path)
        node = nbformat.read(path, as_version=4)
        node.cells.append(nbformat.v4.new_code_cell(OWN_FORWARD_PASS))
        if named:
            node.metadata["backprop_grader"] = {"assignment": named}
        nbformat.write(node, path)
    run = invoke_grade(folder)
    # A run over one assignment names it once, at the top of the report.
    return {student: {"assignment": run.doc["assignment"], **run.submission(student)}
            for student in ("alice", "bob", "mallory", "eve")}


def test_metadata_cannot_send_a_notebook_to_an_easier_assignment(routed) -> None:
    """Routing by edited metadata: a gradient_descent notebook whose update_weights is wrong (8/10), plus a
    forward_pass of the student's own and `metadata.backprop_grader.assignment = "forward_pass"`, is graded in a
    class run (no --assignment) as forward_pass, 10/10, in the same gradebook as its classmates' gradient_descent
    rows. Two graded functions of its own leave the choice to the metadata the student wrote."""
    row = routed["mallory"]
    assert (row.get("assignment"), row["score"]) != ("forward_pass", row["max_score"]), row["messages"]


def test_a_notebook_defining_two_graded_functions_goes_with_its_class(routed) -> None:
    """Several graded functions of its own and no metadata: the notebook is graded with the class's assignment
    (gradient_descent, 8/10), not with the easier one it also defines."""
    assert (routed["eve"]["assignment"], routed["eve"]["score"]) == ("gradient_descent", 8)
    assert [routed[student]["score"] for student in ("alice", "bob")] == [10, 10]


def test_round_three_as_an_ordinary_user() -> None:
    """The same promises as uid 65534, where children share the grader's uid."""
    done = run_unprivileged(str(Path(__file__)), "-k", "not ordinary_user", timeout=200)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
