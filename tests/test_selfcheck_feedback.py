"""The student's self-check: got vs expected for every step, the named mistake and the steps it carries into, the
honest notes, and a call from inside a notebook."""

from __future__ import annotations

import json

import click
import nbformat
import pytest
from click.testing import CliRunner

from grader import selfcheck, selfcheck_cell
from grader.cli import check
from grader.errors import ConfigError
from grader.judge.feedback import SWAPPED_RETURN
from grader.report.summary import mistake_title
from tests.conftest import CLEAN_ENV, invoke_grade
from tests.notebooks import STUB, code_sources, reference_body, student_notebook, write

STEPS = ("error", "output_error_term", "hidden_error", "hidden_error_term", "delta_w_h_o", "delta_w_i_h")


@pytest.fixture
def wrong_notebook(tmp_path):
    return write(student_notebook(reference_body(output_error_term="error")), tmp_path / "work" / "backward_pass.ipynb")


def _assert_full_report(text: str) -> None:
    """The sigmoid derivative left out (issue 11): named as the grade names it, the later steps carried, no score."""
    text = click.unstyle(text)  # notebook_check prints Jupyter's colours
    # Values for every step but the one right as it is (error): a carried step's values differ from the expected ones.
    assert text.count("got (public case):") == len(STEPS) - 1
    assert text.count("expected (public case):") == len(STEPS) - 1
    rows = {line.split()[1]: line.split()[0] for line in text.splitlines() if line.startswith("  ") and
            len(line.split()) > 1 and line.split()[1] in STEPS}
    assert rows == {"error": "pass", "output_error_term": "WRONG", "hidden_error": "carried",
                    "hidden_error_term": "carried", "delta_w_h_o": "carried", "delta_w_i_h": "carried"}, text
    assert "first wrong step: output_error_term" in text
    assert f"mistake [output_error_term] {mistake_title('output_derivative_missing')}:" in text
    assert "at most 8/10 when graded" in text and "1/10" not in text
    assert selfcheck.HONEST_NOTE in text


def test_grade_check_shows_every_step_and_the_honest_notes(wrong_notebook):
    result = CliRunner().invoke(check, [str(wrong_notebook)], env={"GRADER_SOLUTIONS": None})
    assert result.exit_code == 0, result.output
    _assert_full_report(result.output)


def test_notebook_check_with_an_explicit_path(wrong_notebook, capsys):
    """The notebook holds the stub's self-check cell: checking it does not warn about that cell (issue 11)."""
    selfcheck.notebook_check(wrong_notebook)
    printed = capsys.readouterr().out
    _assert_full_report(printed)
    assert selfcheck.SAVED_NOTE in printed
    assert "warning:" not in printed and "cannot tell which notebook" not in printed


def test_notebook_check_finds_the_running_notebook_from_jupyter(wrong_notebook, capsys, monkeypatch):
    monkeypatch.setenv("JPY_SESSION_NAME", str(wrong_notebook))
    selfcheck.notebook_check()
    _assert_full_report(capsys.readouterr().out)
    # An older server's path relative to its root: the kernel runs in the notebook's folder.
    monkeypatch.setenv("JPY_SESSION_NAME", "course/week3/backward_pass.ipynb")
    monkeypatch.chdir(wrong_notebook.parent)
    selfcheck.notebook_check()
    assert selfcheck.HONEST_NOTE in capsys.readouterr().out


def test_notebook_check_asks_for_the_path_when_it_cannot_tell(tmp_path, monkeypatch):
    monkeypatch.delenv("JPY_SESSION_NAME", raising=False)
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError, match="notebook_check"):
        selfcheck.notebook_check()


def test_a_swapped_return_is_named_without_solutions(tmp_path):
    swapped = reference_body().replace("return delta_w_h_o, delta_w_i_h", "return delta_w_i_h, delta_w_h_o")
    notebook = write(student_notebook(swapped), tmp_path / "backward_pass.ipynb")
    result = CliRunner().invoke(check, [str(notebook)], env={"GRADER_SOLUTIONS": None})
    named = f"[delta_w_h_o] {mistake_title(SWAPPED_RETURN)}: Your function returns its two values in the wrong order"
    assert named in result.output


@pytest.mark.parametrize(("timeout", "budget"), [("2", "0.5 s"), ("12", "2 s")])
def test_self_check_call_budget_follows_its_timeout(tmp_path, timeout, budget):
    """Run settings without a rubric (selfcheck.rubric_and_case): one call gets a quarter of --timeout, at most the
    default 2 s, and the message names that budget."""
    notebook = write(student_notebook("while True:\n    pass"), tmp_path / "endless.ipynb")
    result = CliRunner().invoke(check, [str(notebook), "--timeout", timeout], env={"GRADER_SOLUTIONS": None})
    assert f"did not finish within {budget} on a case" in result.output, result.output


def test_grade_check_json_is_the_grade_json_and_the_self_check_cell_is_left_out(wrong_notebook, tmp_path):
    """Issue 11: `grade-check --json FILE` writes `grade --json`'s document (same keys on the submission, its steps and
    diagnoses) and agrees with it on this notebook; the stub's self-check cell, left in, warns in neither.

    Mechanism: selfcheck.document reuses the JSON report's submission object with what only grading decides set
    null; batch.sandbox_job drops the course's self-check cell (selfcheck_cell.is_self_check) before any run.
    """
    assert any(selfcheck_cell.is_self_check(source) for source in code_sources(nbformat.read(wrong_notebook, 4)))
    (graded,) = invoke_grade(wrong_notebook, "--assignment", "backward_pass").doc["submissions"]
    out = tmp_path / "check.json"
    result = CliRunner().invoke(check, [str(wrong_notebook), "--json", str(out)], env=CLEAN_ENV)
    assert result.exit_code == 0, result.output
    document = json.loads(out.read_text(encoding="utf-8"))
    assert document["assignment"] == "backward_pass" and document["check"] == "public case"
    (own,) = document["submissions"]
    assert set(own) - {"score_at_most"} == set(graded)
    assert [set(step) for step in own["steps"]] == [set(step) for step in graded["steps"]]
    assert [set(item) for item in own["diagnoses"]] == [set(item) for item in graded["diagnoses"]]
    for key in ("status", "first_wrong_step", "diagnoses"):
        assert own[key] == graded[key], key
    assert [(s["status"], s["carried_forward"]) for s in own["steps"]] == [
        (s["status"], s["carried_forward"]) for s in graded["steps"]]
    assert own["score"] is None and own["score_at_most"] == graded["score"] == 8
    for messages in (own["messages"], graded["messages"]):
        assert not any(message.startswith("warning:") for message in messages), messages


@pytest.mark.parametrize("source", [
    selfcheck_cell.SOURCE,
    "from grader import selfcheck; selfcheck.notebook_check('backward_pass.ipynb')",
    "from grader import selfcheck\nselfcheck.notebook_check(timeout=20)\nselfcheck.notebook_check()",
])
def test_the_self_check_cell_is_recognised(source):
    """Mechanism: selfcheck_cell.is_self_check takes the course's cell in the forms its docstring allows."""
    assert selfcheck_cell.is_self_check(source)


@pytest.mark.parametrize("source", [
    "from grader import selfcheck\nselfcheck.notebook_check()\nlearnrate = 5",
    "from grader import selfcheck\nselfcheck.notebook_check(print('x'))",
    "from grader import selfcheck as s\ns.notebook_check()",
    "import grader\nselfcheck.notebook_check()",
    "from grader import selfcheck",
    "from grader import selfcheck\nselfcheck.notebook_check(**{'path': 1})",
    "from grader import selfcheck\nselfcheck.notebook_check(",
    "from grader import selfcheck\nselfcheck.notebook_check(" + "(" * 200 + ")" * 200 + ")",
    "from grader import selfcheck\nselfcheck.notebook_check()\n" + "[" * 5000 + "]" * 5000,
])
def test_a_cell_doing_more_than_the_self_check_is_run(source):
    """Mechanism: only a cell doing nothing but the self-check is left out, so no student code can hide behind it."""
    assert not selfcheck_cell.is_self_check(source)


@pytest.mark.parametrize(("name", "content"), [
    ("broken", b"{bad"),
    ("truncated", STUB.read_bytes()[:3000]),
    ("not-a-notebook", b'{"cells": 5, "metadata": {}, "nbformat": 4, "nbformat_minor": 5}'),
    ("binary", b"\xff\xfe\x00"),
    ("damaged-public-case", STUB.read_text(encoding="utf-8").replace('"steps": [', '"steps": 5, "x": [', 1).encode()),
])
def test_an_unreadable_notebook_is_invalid_with_a_repair_hint(tmp_path, name, content):
    """Issue 11: a corrupt notebook is `invalid` with how to repair it (exit 0), never an internal error; -v is an option.

    Mechanism: selfcheck.check_files turns a notebook that cannot be read, or whose copy of the public case is
    damaged, into an invalid result carrying REPAIR_HINT.
    """
    notebook = tmp_path / f"{name}.ipynb"
    notebook.write_bytes(content)
    result = CliRunner().invoke(check, [str(notebook), "-v"], env=CLEAN_ENV)
    assert result.exit_code == 0, result.output
    assert f"{name}  invalid" in result.output and selfcheck.REPAIR_HINT in result.output, result.output
    assert "internal error" not in result.output
    result = CliRunner().invoke(check, [str(notebook), "--json", "-"], env=CLEAN_ENV)
    assert json.loads(result.output)["submissions"][0]["status"] == "invalid"
