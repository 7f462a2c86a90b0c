"""Shared helpers: tiny real notebooks made from the committed stub, and the real command line."""

from __future__ import annotations

import textwrap
from pathlib import Path

import nbformat
import pytest
from click.testing import CliRunner, Result

from grader import cli

ROOT = Path(__file__).resolve().parent.parent
STUB = ROOT / "assignments" / "backward_pass" / "backward_pass.ipynb"
SOLUTIONS = ROOT / "solutions"
SIGNATURE = "def backward_pass(x, target, learnrate, hidden_layer_out, output_layer_out, weights_hidden_to_output):\n"

RIGHT = """
error = target - output_layer_out
output_error_term = error * output_layer_out * (1 - output_layer_out)
hidden_error = np.dot(output_error_term, weights_hidden_to_output)
hidden_error_term = hidden_error * hidden_layer_out * (1 - hidden_layer_out)
delta_w_h_o = learnrate * output_error_term * hidden_layer_out
delta_w_i_h = learnrate * np.outer(x, hidden_error_term)
return delta_w_h_o, delta_w_i_h
"""
# A slip in the outer product (one hidden unit's column only): delta_w_i_h has the wrong shape
# while every other step is right, so the notebook scores 9/10.
NO_OUTER = RIGHT.replace("np.outer(x, hidden_error_term)", "x[:, None] * hidden_error_term[:1]")
# Subtracting the wrong way round: error is wrong, later steps are right given it (carried forward).
SIGN = RIGHT.replace("error = target - output_layer_out", "error = output_layer_out - target")


def write_notebook(path: Path, body: str, extra_cells: tuple[str, ...] = ()) -> Path:
    """The stub with `body` as backward_pass's body, plus code cells appended at the end."""
    book = nbformat.read(STUB, as_version=4)
    for cell in book.cells:
        if cell.cell_type == "code" and cell.source.startswith("def backward_pass("):
            cell.source = SIGNATURE + textwrap.indent(textwrap.dedent(body).strip("\n"), "    ") + "\n"
    book.cells.extend(nbformat.v4.new_code_cell(source) for source in extra_cells)
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(book, path)
    return path


def run_grade(*arguments: str) -> Result:
    """`grade` through Click, against the worktree's solutions, two jobs."""
    return CliRunner().invoke(cli.grade, [*arguments, "--solutions", str(SOLUTIONS), "--jobs", "2"],
                              catch_exceptions=False)


@pytest.fixture(autouse=True)
def _outside_github_actions(monkeypatch):
    """Tests run in this project's own GitHub workflow too: keep `grade` out of GitHub mode unless asked."""
    for name in ("GITHUB_ACTIONS", "GITHUB_STEP_SUMMARY", "GRADER_SEED", "GRADER_SOLUTIONS", "AUTOGRADER_ROOT"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def klass(tmp_path) -> Path:
    """submissions/ with one right, one half-right (no outer product) and one untouched notebook."""
    folder = tmp_path / "submissions"
    write_notebook(folder / "alice" / "backward_pass.ipynb", RIGHT)
    write_notebook(folder / "bob" / "backward_pass.ipynb", NO_OUTER)
    book = nbformat.read(STUB, as_version=4)
    (folder / "carol").mkdir(parents=True)
    nbformat.write(book, folder / "carol" / "backward_pass.ipynb")
    return folder
