"""Helpers of the class-scale tests: a class of real notebooks (built with tests.notebooks) and the real CLI."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from tests.notebooks import REFERENCE_BODY, SOLUTIONS, reference_body, student_notebook, write

WRONG_SIGN = reference_body(error="output_layer_out - target")
TRANSPOSED = reference_body(delta_w_i_h="learnrate * np.outer(hidden_error_term, x)")
RAISES = reference_body(hidden_error="np.dot(output_error_term, weights_hiden_to_output)")
BODIES = [REFERENCE_BODY, WRONG_SIGN, TRANSPOSED, RAISES]


def make_class(folder: Path, size: int) -> Path:
    """`size` students (a mix of right, wrong and failing bodies) plus one unreadable file.

    Each body starts with a comment naming its student, so no two notebooks share their code.
    """
    for number in range(size):
        body = f"# s{number}\n" + BODIES[number % len(BODIES)]
        write(student_notebook(body), folder / f"s{number:02d}" / "backward_pass.ipynb")
    (folder / "zz-broken").mkdir()
    (folder / "zz-broken" / "backward_pass.ipynb").write_text('{"cells": [', encoding="utf-8")
    return folder


def grade(*args: str):
    """Run `grade` in-process, as a user would, against the worktree's solutions."""
    from grader.cli import grade as command

    return CliRunner().invoke(command, ["--solutions", str(SOLUTIONS), *args], catch_exceptions=False)
