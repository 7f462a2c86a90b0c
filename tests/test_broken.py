"""Broken notebooks get a clean verdict each: never a traceback, never a crash of the batch."""

from __future__ import annotations

import time

import nbformat
import pytest
from nbformat import v3, v4

from tests.conftest import steps_of
from tests.notebooks import STEPS, STUBBORN_LOOP, code_sources, reference_body, student_notebook, write

RUBRIC_TIMEOUT = 10.0  # solutions/backward_pass/rubric.toml [limits] timeout


def _v3_notebook() -> str:
    cells = [v3.new_code_cell(input=source) for source in code_sources(student_notebook())]
    node = v3.new_notebook(name="backward_pass", worksheets=[v3.new_worksheet(cells=cells)])
    return v3.writes_json(node)


def _texts() -> dict[str, str]:
    """Submissions written as raw text: student id -> file content."""
    correct = nbformat.writes(student_notebook())
    return {
        "truncated": correct[: len(correct) // 2],
        "empty": "",
        "not_a_notebook": '{"a": 1}\n',
        "version3": _v3_notebook(),
        "bom": "\ufeff" + correct,
        "markdown_only": nbformat.writes(v4.new_notebook(cells=[v4.new_markdown_cell("# My answers\n\nSee the lecture.")])),
    }


# student id -> notebook node, graded with the rubric's own time limits
NOTEBOOKS = {
    "syntax_error": lambda: student_notebook(reference_body(error="target - output_layer_out)")),
    "missing_function": lambda: student_notebook(signature="def backprop(x, target, learnrate, hidden_layer_out, "
                                                           "output_layer_out, weights_hidden_to_output):"),
    "raises_always": lambda: student_notebook('raise ValueError("I will do it later")'),
    "raises_midway": lambda: student_notebook(
        reference_body(hidden_error="np.dot(output_error_term, weights_hidden_to_outputs)")  # misspelt argument
    ),
    "magics": lambda: student_notebook(helper_cells=["%matplotlib inline\n!pip install foo\nx = !ls\nprint(x)"]),
    "demo_raises": lambda: student_notebook(extra_cells=["backward_pass(x, target)"]),
    "missing_module": lambda: student_notebook(helper_cells=["import my_helpers\nfrom my_helpers import plot_network"]),
    "slow_training": lambda: student_notebook(extra_cells=["import time\ntime.sleep(30)"]),
}


# graded in a separate run with --timeout 2
TIMEOUT_BATCH = {
    "endless_loop": lambda: student_notebook("while True:\n    pass"),
    "sys_exit": lambda: student_notebook("import sys\nsys.exit()"),
    "os_exit": lambda: student_notebook("import os\nos._exit(0)"),
    "os_exit_no_demo": lambda: student_notebook("import os\nos._exit(0)", demo=False),
    "stubborn_loop": lambda: student_notebook(STUBBORN_LOOP),
    "endless_top_level": lambda: student_notebook(extra_cells=["while True:\n    pass"]),
    "correct": lambda: student_notebook(),
}


@pytest.fixture(scope="module")
def graded(tmp_path_factory, run_grade):
    folder = tmp_path_factory.mktemp("broken")
    for student, text in _texts().items():
        (folder / f"{student}.ipynb").write_text(text, encoding="utf-8")
    for student, build in NOTEBOOKS.items():
        write(build(), folder / f"{student}.ipynb")
    started = time.monotonic()
    run = run_grade(folder)
    run_seconds = time.monotonic() - started
    return run, run_seconds


@pytest.fixture(scope="module")
def timed(tmp_path_factory, run_grade):
    folder = tmp_path_factory.mktemp("timeouts")
    for student, build in TIMEOUT_BATCH.items():
        write(build(), folder / f"{student}.ipynb")
    started = time.monotonic()
    run = run_grade(folder, "--timeout", "2")
    return run, time.monotonic() - started


def _clean(run) -> None:
    assert run.exit_code == 0, run.stderr
    assert "Traceback" not in run.stderr


def test_batch_of_broken_notebooks_exits_cleanly(graded):
    run, _ = graded
    _clean(run)
    assert {row["student"] for row in run.doc["submissions"]} == set(_texts()) | set(NOTEBOOKS)


def test_syntax_error_is_named(graded):
    row = graded[0].submission("syntax_error")
    assert row["status"] == "error"
    assert row["score"] == 0
    assert "SyntaxError" in row["messages"][0] and "backward_pass" in row["messages"][0], row["messages"]
    assert all(step["status"] == "not_run" for step in row["steps"])


def test_missing_function_is_an_error(graded):
    row = graded[0].submission("missing_function")
    assert row["status"] == "error"
    assert "backward_pass" in row["messages"][0]


@pytest.mark.parametrize(("student", "reason"), [
    ("truncated", "not valid JSON"),
    ("empty", "empty"),
    ("not_a_notebook", "not a Jupyter notebook"),
])
def test_unreadable_file_is_invalid_with_one_line_reason(graded, student, reason):
    row = graded[0].submission(student)
    assert row["status"] == "invalid"
    assert row["score"] == 0
    assert len(row["messages"]) == 1
    assert "\n" not in row["messages"][0]
    assert reason in row["messages"][0], row["messages"]
    assert [step["status"] for step in row["steps"]] == ["not_run"] * len(STEPS)


@pytest.mark.parametrize("student", ["version3", "bom", "magics", "demo_raises", "missing_module", "slow_training"])
def test_correct_solution_despite_oddities_gets_full_marks(graded, student):
    row = graded[0].submission(student)
    assert row["status"] == "graded", row["messages"]
    assert row["score"] == 10, [(s["name"], s["message"]) for s in row["steps"]]


def test_markdown_only_notebook_is_an_error(graded):
    row = graded[0].submission("markdown_only")
    assert row["status"] == "error"
    assert row["score"] == 0


def test_function_raising_on_every_case_is_an_error(graded):
    row = graded[0].submission("raises_always")
    assert row["status"] == "error"
    assert row["score"] == 0
    assert any("ValueError" in message and "I will do it later" in message for message in row["messages"]), row["messages"]


def test_function_raising_midway_names_the_exception_not_a_missing_variable(graded):
    """hidden_error is assigned in the code but the statement raises: the step must not be called absent."""
    row = graded[0].submission("raises_midway")
    assert row["status"] == "error"
    assert any("NameError" in message and "weights_hidden_to_outputs" in message for message in row["messages"])
    steps = steps_of(row)
    assert steps["error"]["status"] == steps["output_error_term"]["status"] == "pass"
    message = steps["hidden_error"]["message"]
    assert "no variable named hidden_error" not in message, message
    assert "NameError" in message or "raised" in message, message


def test_ipython_syntax_is_noted(graded):
    messages = graded[0].submission("magics")["messages"]
    for line in ("%matplotlib inline", "!pip install foo", "x = !ls"):
        assert any(line in message for message in messages), (line, messages)


@pytest.mark.parametrize(("student", "cause"), [
    ("demo_raises", "TypeError"),
    ("missing_module", "my_helpers"),
    ("slow_training", "stopped after"),
])
def test_top_level_trouble_is_a_warning(graded, student, cause):
    messages = graded[0].submission(student)["messages"]
    assert any(message.startswith("warning:") and cause in message for message in messages), messages


def test_slow_top_level_code_does_not_use_up_the_time_limit(graded):
    _, seconds = graded
    assert seconds < RUBRIC_TIMEOUT / 2


def test_timeout_batch_exits_cleanly_and_quickly(timed):
    run, seconds = timed
    _clean(run)
    assert seconds < 10
    assert len(run.doc["submissions"]) == len(TIMEOUT_BATCH)


def test_endless_loop_is_a_timeout(timed):
    row = timed[0].submission("endless_loop")
    assert row["status"] == "timeout"
    assert row["score"] == 0
    assert row["messages"], row


def test_other_notebooks_of_a_batch_with_a_timeout_are_graded(timed):
    row = timed[0].submission("correct")
    assert row["status"] == "graded"
    assert row["score"] == 10


def test_loop_that_swallows_interrupts_is_a_timeout(timed):
    row = timed[0].submission("stubborn_loop")
    assert row["status"] == "timeout", row["messages"]
    assert row["score"] == 0


def test_endless_top_level_loop_is_cut_with_a_warning(timed):
    row = timed[0].submission("endless_top_level")
    assert row["status"] == "graded", row["messages"]
    assert row["score"] == 10
    assert any(message.startswith("warning:") for message in row["messages"]), row["messages"]


@pytest.mark.parametrize("student", ["sys_exit", "os_exit", "os_exit_no_demo"])
def test_exiting_the_process_is_an_error(timed, student):
    row = timed[0].submission(student)
    assert row["status"] == "error", row
    assert row["score"] == 0
    assert row["messages"]


def test_sys_exit_is_named(timed):
    messages = timed[0].submission("sys_exit")["messages"]
    assert any("sys.exit" in message for message in messages), messages


def test_bom_and_v3_rows_keep_their_steps(graded):
    for student in ("bom", "version3"):
        assert list(steps_of(graded[0].submission(student))) == list(STEPS)


def test_timeout_option_gives_each_call_a_quarter_of_it(timed):
    """Run settings (grader/assignment/settings.py): --timeout 2 caps one call at 2/4 s, under the rubric's call = 2,
    and the timeout message names the budget the run gave, not the rubric's."""
    messages = timed[0].submission("endless_loop")["messages"]
    assert any("did not finish within 0.5 s on a case" in message for message in messages), messages
