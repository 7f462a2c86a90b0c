"""The student's self-check: got vs expected for every step, the named mistake and the steps it carries into, the
honest notes, and a call from inside a notebook."""

from __future__ import annotations

import click
import pytest
from click.testing import CliRunner

from grader import selfcheck
from grader.cli import check
from grader.errors import ConfigError
from grader.judge.feedback import SWAPPED_RETURN
from tests.notebooks import reference_body, student_notebook, write

STEPS = ("error", "output_error_term", "hidden_error", "hidden_error_term", "delta_w_h_o", "delta_w_i_h")


@pytest.fixture
def wrong_notebook(tmp_path):
    return write(student_notebook(reference_body(output_error_term="error")), tmp_path / "work" / "backward_pass.ipynb")


def _assert_full_report(text: str) -> None:
    """The sigmoid derivative left out (issue 11): named as the grade names it, the later steps carried, no score."""
    text = click.unstyle(text)  # notebook_check prints Jupyter's colours
    assert text.count("got (public case):") == len(STEPS)
    assert text.count("expected (public case):") == len(STEPS)
    rows = {line.split()[1]: line.split()[0] for line in text.splitlines() if line.startswith("  ") and
            len(line.split()) > 1 and line.split()[1] in STEPS}
    assert rows == {"error": "pass", "output_error_term": "WRONG", "hidden_error": "carried",
                    "hidden_error_term": "carried", "delta_w_h_o": "carried", "delta_w_i_h": "carried"}, text
    assert "first wrong step: output_error_term" in text
    assert "mistake [output_error_term] output_derivative_missing:" in text
    assert "at most 8/10 when graded" in text and "1/10" not in text
    assert selfcheck.HONEST_NOTE in text


def test_grade_check_shows_every_step_and_the_honest_notes(wrong_notebook):
    result = CliRunner().invoke(check, [str(wrong_notebook)], env={"GRADER_SOLUTIONS": None})
    assert result.exit_code == 0, result.output
    _assert_full_report(result.output)


def test_notebook_check_with_an_explicit_path(wrong_notebook, capsys):
    selfcheck.notebook_check(wrong_notebook)
    printed = capsys.readouterr().out
    _assert_full_report(printed)
    assert selfcheck.SAVED_NOTE in printed


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
    assert f"[delta_w_h_o] {SWAPPED_RETURN}: Your function returns its two values in the wrong order" in result.output


@pytest.mark.parametrize(("timeout", "budget"), [("2", "0.5 s"), ("12", "2 s")])
def test_self_check_call_budget_follows_its_timeout(tmp_path, timeout, budget):
    """Run settings without a rubric (selfcheck.rubric_and_case): one call gets a quarter of --timeout, at most the
    default 2 s, and the message names that budget."""
    notebook = write(student_notebook("while True:\n    pass"), tmp_path / "endless.ipynb")
    result = CliRunner().invoke(check, [str(notebook), "--timeout", timeout], env={"GRADER_SOLUTIONS": None})
    assert f"did not finish within {budget} on a case" in result.output, result.output
