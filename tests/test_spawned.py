"""The student self-check on a platform without fork (Windows): one fresh interpreter per run."""

from __future__ import annotations

import os
import time

from click.testing import CliRunner

from grader.cli import check, grade
from tests.notebooks import SOLUTIONS, STUBBORN_LOOP, reference_body, student_notebook, write


def test_self_check_without_fork_runs_in_a_new_interpreter(tmp_path, monkeypatch):
    monkeypatch.delattr(os, "fork")
    right = write(student_notebook(), tmp_path / "right.ipynb")
    wrong = write(student_notebook(reference_body(error="output_layer_out - target")), tmp_path / "wrong.ipynb")
    result = CliRunner().invoke(check, [str(right)])
    assert result.exit_code == 0, result.output
    assert result.output.count("pass ") == 6 and "cannot fork" in result.output
    result = CliRunner().invoke(check, [str(wrong)])
    assert result.exit_code == 0, result.output
    assert "first wrong step: error" in result.output and "opposite sign" in result.output


def test_self_check_without_fork_kills_a_run_at_the_time_limit(tmp_path, monkeypatch):
    monkeypatch.delattr(os, "fork")
    stuck = write(student_notebook(STUBBORN_LOOP + "return None, None"), tmp_path / "stuck.ipynb")
    started = time.monotonic()
    result = CliRunner().invoke(check, [str(stuck), "--timeout", "2"])
    assert result.exit_code == 0, result.output
    assert "timeout" in result.output.splitlines()[0]
    assert time.monotonic() - started < 10


def test_grading_a_class_without_fork_is_a_clear_configuration_error(tmp_path, monkeypatch):
    monkeypatch.delattr(os, "fork")
    notebook = write(student_notebook(), tmp_path / "alice.ipynb")
    result = CliRunner().invoke(grade, [str(notebook), "--solutions", str(SOLUTIONS)])
    assert result.exit_code == 2 and "grade-check still works" in result.output
