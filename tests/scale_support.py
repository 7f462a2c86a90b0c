"""Helpers of the class-scale tests: real notebooks built from the course stub, a class of them, the real CLI."""

from __future__ import annotations

from pathlib import Path

import nbformat
from click.testing import CliRunner

ROOT = Path(__file__).resolve().parents[1]
SOLUTIONS = ROOT / "solutions"
STUB = ROOT / "assignments" / "backward_pass" / "backward_pass.ipynb"
SIGNATURE = "def backward_pass(x, target, learnrate, hidden_layer_out, output_layer_out, weights_hidden_to_output):\n"

RIGHT = """\
    error = target - output_layer_out
    output_error_term = error * output_layer_out * (1 - output_layer_out)
    hidden_error = np.dot(output_error_term, weights_hidden_to_output)
    hidden_error_term = hidden_error * hidden_layer_out * (1 - hidden_layer_out)
    delta_w_h_o = learnrate * output_error_term * hidden_layer_out
    delta_w_i_h = learnrate * np.outer(x, hidden_error_term)
    return delta_w_h_o, delta_w_i_h
"""
WRONG_SIGN = RIGHT.replace("target - output_layer_out", "output_layer_out - target")
TRANSPOSED = RIGHT.replace("np.outer(x, hidden_error_term)", "np.outer(hidden_error_term, x)")
RAISES = RIGHT.replace("weights_hidden_to_output)\n", "weights_hiden_to_output)\n", 1)
BODIES = [RIGHT, WRONG_SIGN, TRANSPOSED, RAISES]


def write_notebook(path: Path, body: str, note: str = "") -> Path:
    """The stub with `body` as backward_pass's body (and `note` as a comment, to vary the bytes)."""
    book = nbformat.read(STUB, as_version=4)
    for cell in book.cells:
        if cell.cell_type == "code" and "def backward_pass" in cell.source:
            cell.source = SIGNATURE + f"    # {note}\n" + body
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(book, path)
    return path


def make_class(folder: Path, size: int) -> Path:
    """`size` students (a mix of right, wrong and failing bodies) plus one unreadable file."""
    for number in range(size):
        write_notebook(folder / f"s{number:02d}" / "backward_pass.ipynb", BODIES[number % len(BODIES)], f"s{number}")
    (folder / "zz-broken").mkdir()
    (folder / "zz-broken" / "backward_pass.ipynb").write_text('{"cells": [', encoding="utf-8")
    return folder


def grade(*args: str):
    """Run `grade` in-process, as a user would, against the worktree's solutions."""
    from grader.cli import grade as command

    return CliRunner().invoke(command, ["--solutions", str(SOLUTIONS), *args], catch_exceptions=False)
