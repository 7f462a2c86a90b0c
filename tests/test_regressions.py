"""Realistic notebooks that once got a wrong verdict, crashed a batch, or leaked hidden values.

The notebooks of a group are graded in one `grade` call to keep the suite fast.
"""

from __future__ import annotations

import json

import nbformat
import pytest

from tests.conftest import invoke_grade, steps_of
from tests.hidden_values import hidden_cases, leaks, spellings
from tests.notebooks import SIGNATURE, reference_body, student_notebook, write

RIGHT = reference_body()
RETURN = "return delta_w_h_o, delta_w_i_h"

# Right values, then a check hard-coded for the demo cell's shapes: in Jupyter the function
# works on the demo case only and raises AssertionError on any other shape.
ASSERT_DEMO_SHAPE = RIGHT.replace(RETURN, "assert delta_w_i_h.shape == (3, 2)\n" + RETURN)
# Right values, then a debug print that only works with 2 hidden units (TypeError elsewhere).
PRINT_TWO_UNITS = RIGHT.replace(RETURN, "print('delta_w_h_o = %.4f %.4f' % tuple(delta_w_h_o))\n" + RETURN)
# Never returns anything: raises on every case after computing the steps.
RAISES_AT_THE_END = RIGHT.replace(RETURN, "raise NotImplementedError('not finished')")

# Unfinished: three of the six steps are zero placeholders of the right shape.
ZERO_PLACEHOLDERS = reference_body(
    hidden_error="np.zeros(len(weights_hidden_to_output))  # TODO",
    hidden_error_term="np.zeros_like(hidden_layer_out)  # TODO",
    delta_w_i_h="np.zeros((len(x), len(hidden_layer_out)))  # TODO",
)

# Right, returning the pair as a namedtuple (a tuple: the demo cell unpacks it fine).
NAMEDTUPLE_RETURN = RIGHT.replace(RETURN, "return Deltas(delta_w_h_o, delta_w_i_h)")
NAMEDTUPLE_CELL = "from collections import namedtuple\nDeltas = namedtuple('Deltas', 'delta_w_h_o delta_w_i_h')"

# A right function wrapped by a class-based decorator (a callable object, not a function).
CLASS_DECORATOR_CELL = (
    "class count_calls:\n"
    "    def __init__(self, function):\n"
    "        self.function = function\n"
    "        self.calls = 0\n"
    "    def __call__(self, *args):\n"
    "        self.calls += 1\n"
    "        return self.function(*args)\n\n"
    "@count_calls\n" + SIGNATURE + "\n" + "\n".join("    " + line for line in RIGHT.strip().splitlines()) + "\n"
)

# Cells Python parses but does not compile: valid in Jupyter (top-level await), or a scratch cell
# that raises SyntaxError in Jupyter and leaves the rest of the notebook alone.
TOP_LEVEL_AWAIT_CELL = "import asyncio\nawait asyncio.sleep(0)"
TOP_LEVEL_RETURN_CELL = "error = target - output_layer_out\nreturn error"

# Hostile: right on every case, but smuggles each hidden case's delta_w_h_o out.
_ENCODED = "'L_' + '_'.join(f'{v:.9f}'.replace('.', 'p').replace('-', 'm') for v in delta_w_h_o)"
LEAK_BY_EXCEPTION_NAME = RIGHT.replace(
    RETURN, f"if x.shape != (3,):\n    raise type({_ENCODED}, (Exception,), {{}})()\n" + RETURN)
LEAK_BY_DUPLICATED_STDOUT = RIGHT.replace(
    RETURN, "os.write(_saved_stdout, ('%r\\n' % (delta_w_h_o.tolist(),)).encode())\n" + RETURN)
DUP_STDOUT_CELL = "import os\n_saved_stdout = os.dup(1)"

# Raises on every case where the shapes do not broadcast, at the delta_w_i_h line: the right
# delta_w_h_o computed before it still counts, and the first wrong step is where it failed.
CRASH_AT_LAST_DELTA = reference_body(delta_w_i_h="learnrate * x * hidden_error_term")

NOTEBOOKS = {
    "crash_at_last_delta": lambda: student_notebook(CRASH_AT_LAST_DELTA),
    "assert_demo_shape": lambda: student_notebook(ASSERT_DEMO_SHAPE),
    "print_two_units": lambda: student_notebook(PRINT_TWO_UNITS),
    "raises_at_the_end": lambda: student_notebook(RAISES_AT_THE_END),
    "zero_placeholders": lambda: student_notebook(ZERO_PLACEHOLDERS),
    "namedtuple_return": lambda: student_notebook(NAMEDTUPLE_RETURN, helper_cells=[NAMEDTUPLE_CELL]),
    "class_decorator": lambda: student_notebook(RIGHT, extra_cells=[CLASS_DECORATOR_CELL]),
    "top_level_await": lambda: student_notebook(RIGHT, extra_cells=[TOP_LEVEL_AWAIT_CELL]),
    "top_level_return": lambda: student_notebook(RIGHT, extra_cells=[TOP_LEVEL_RETURN_CELL]),
    "leak_by_exception_name": lambda: student_notebook(LEAK_BY_EXCEPTION_NAME),
    "leak_by_duplicated_stdout": lambda: student_notebook(LEAK_BY_DUPLICATED_STDOUT, helper_cells=[DUP_STDOUT_CELL]),
}


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    folder = tmp_path_factory.mktemp("review")
    for student, build in NOTEBOOKS.items():
        write(build(), folder / f"{student}.ipynb")
    out = tmp_path_factory.mktemp("review_out")
    run = invoke_grade(folder, "-v", "--out", out, "--format", "json", "--format", "junit")
    assert run.exit_code == 0, run.stderr
    return run, out


@pytest.fixture(scope="module")
def hidden_numbers() -> set[str]:
    numbers: set[str] = set()
    for case in hidden_cases():
        for value in case.expected.values():
            for number in value.ravel():
                numbers |= spellings(number)
    return numbers


@pytest.mark.parametrize("student", ["assert_demo_shape", "print_two_units", "raises_at_the_end"])
def test_function_that_raises_instead_of_returning_gets_no_credit_for_the_returned_steps(graded, student):
    row = graded[0].submission(student)
    steps = steps_of(row)
    assert steps["delta_w_h_o"]["status"] != "pass"
    assert steps["delta_w_i_h"]["status"] != "pass"
    assert row["score"] < row["max_score"]


def test_a_function_that_fails_at_a_step_is_wrong_first_at_that_step(graded):
    row = graded[0].submission("crash_at_last_delta")
    steps = steps_of(row)
    assert row["first_wrong_step"] == "delta_w_i_h"
    assert steps["delta_w_h_o"]["status"] == "pass" and steps["delta_w_i_h"]["status"] == "fail"
    assert row["score"] == row["max_score"] - steps["delta_w_i_h"]["max_score"]


@pytest.mark.parametrize("student", ["top_level_await", "top_level_return"])
def test_cell_that_parses_but_does_not_compile_is_a_warning(graded, student):
    row = graded[0].submission(student)
    assert row["status"] == "graded"
    assert row["score"] == row["max_score"]
    assert not any("child.py" in message for message in row["messages"])


def test_zero_placeholders_earn_no_carried_forward_credit(graded):
    row = graded[0].submission("zero_placeholders")
    steps = steps_of(row)
    # hidden_error, hidden_error_term and delta_w_i_h were never written: 5 of 10 at most.
    assert steps["hidden_error_term"]["status"] != "pass"
    assert steps["delta_w_i_h"]["status"] != "pass"
    assert row["score"] <= 5


def test_namedtuple_pair_gets_full_marks(graded):
    row = graded[0].submission("namedtuple_return")
    assert row["score"] == row["max_score"], row["messages"]


def test_function_wrapped_by_a_class_decorator_gets_full_marks(graded):
    row = graded[0].submission("class_decorator")
    assert row["status"] == "graded"
    assert row["score"] == row["max_score"], row["messages"]


def test_no_hidden_value_leaks_through_an_exception_type_name(graded, hidden_numbers):
    run, _ = graded
    row = run.submission("leak_by_exception_name")
    text = json.dumps(row)
    # The names encode '.' as 'p': undo that before looking for the numbers.
    assert leaks(text.replace("p", ".").replace("m", "-"), hidden_numbers) == []


def test_no_hidden_value_leaks_through_a_duplicated_stdout(graded, hidden_numbers):
    run, out = graded
    texts = {"terminal": run.stderr, "junit.xml": (out / "junit.xml").read_text(),
             "results.json": (out / "results.json").read_text()}
    for name, text in texts.items():
        assert leaks(text, hidden_numbers) == [], name


def test_notebook_with_a_huge_json_integer_is_invalid_not_a_crash(tmp_path):
    folder = tmp_path / "class"
    write(student_notebook(), folder / "good.ipynb")
    text = nbformat.writes(student_notebook()).replace('"nbformat": 4', '"execution_count": 1' + "0" * 5000 + ', "nbformat": 4')
    (folder / "huge_int.ipynb").write_text(text)
    run = invoke_grade(folder)
    assert run.exit_code == 0, run.stderr
    assert run.submission("huge_int")["status"] == "invalid"
    assert run.submission("good")["score"] == 10
