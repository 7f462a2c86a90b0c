"""Student notebooks for the feedback tests: the course's stub with a chosen backward_pass body, graded by the real CLI."""

from __future__ import annotations

import json
import textwrap
import traceback
from collections.abc import Sequence
from pathlib import Path

import nbformat
from click.testing import CliRunner
from nbformat import v4

from grader.cli import grade

REPO = Path(__file__).resolve().parents[1]
SOLUTIONS = REPO / "solutions"
STUB = REPO / "assignments" / "backward_pass" / "backward_pass.ipynb"

REFERENCE_BODY = """
error = target - output_layer_out
output_error_term = error * output_layer_out * (1 - output_layer_out)
hidden_error = np.dot(output_error_term, weights_hidden_to_output)
hidden_error_term = hidden_error * hidden_layer_out * (1 - hidden_layer_out)
delta_w_h_o = learnrate * output_error_term * hidden_layer_out
delta_w_i_h = learnrate * np.outer(x, hidden_error_term)
return delta_w_h_o, delta_w_i_h
"""


def body_with(**replacements: str) -> str:
    """The reference body with some steps' right-hand sides replaced, as a student would write them."""
    lines = []
    for line in textwrap.dedent(REFERENCE_BODY).strip().splitlines():
        name = line.split(" = ", 1)[0]
        lines.append(f"{name} = {replacements.pop(name)}" if name in replacements else line)
    if replacements:
        raise ValueError(f"not steps of the body: {sorted(replacements)}")
    return "\n".join(lines) + "\n"


def student_notebook(body: str, helper_cells: Sequence[str] = ()) -> nbformat.NotebookNode:
    """The stub with `body` (unindented) as backward_pass's body; `helper_cells` go just before it."""
    stub = nbformat.read(STUB, as_version=4)
    cells = []
    for cell in stub.cells:
        if cell.cell_type == "code" and "def backward_pass(" in cell.source:
            cells.extend(v4.new_code_cell(source) for source in helper_cells)
            header = cell.source.split('"""')
            indented = textwrap.indent(textwrap.dedent(body).strip("\n"), "    ")
            cells.append(v4.new_code_cell(f'{header[0]}"""{header[1]}"""\n{indented}\n'))
        else:
            cells.append(v4.new_code_cell(cell.source) if cell.cell_type == "code" else v4.new_markdown_cell(cell.source))
    node = v4.new_notebook(cells=cells)
    node.metadata = stub.metadata
    return node


def write(node: nbformat.NotebookNode, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(node, str(path))
    return path


def run_grade(*args: object, solutions: Path = SOLUTIONS) -> tuple[int, dict | None, str]:
    """`grade ARGS --solutions <repo's> --jobs 2 --json -`: (exit code, JSON document, stderr)."""
    argv = [str(arg) for arg in args] + ["--solutions", str(solutions), "--jobs", "2", "--json", "-"]
    result = CliRunner().invoke(grade, argv, env={"GRADER_SEED": None, "GRADER_SOLUTIONS": None})
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise AssertionError("grade raised:\n" + "".join(traceback.format_exception(result.exception)))
    try:
        document = json.loads(result.stdout)
    except ValueError:
        document = None
    return result.exit_code, document, result.stderr


def by_student(document: dict) -> dict[str, dict]:
    return {row["student"]: row for row in document["submissions"]}
