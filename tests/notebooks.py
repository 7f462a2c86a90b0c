"""Building student notebooks for the tests: the course's stub with a chosen backward_pass body."""

from __future__ import annotations

import copy
import textwrap
from collections.abc import Sequence
from pathlib import Path

import nbformat
from nbformat import v4

REPO = Path(__file__).resolve().parents[1]
SOLUTIONS = REPO / "solutions"
ASSIGNMENTS = REPO / "assignments"
STUB = ASSIGNMENTS / "backward_pass" / "backward_pass.ipynb"
REFERENCE = SOLUTIONS / "backward_pass" / "backward_pass.ipynb"

STEPS = ("error", "output_error_term", "hidden_error", "hidden_error_term", "delta_w_h_o", "delta_w_i_h")
POINTS = {"error": 1.0, "output_error_term": 2.0, "hidden_error": 2.0, "hidden_error_term": 2.0,
          "delta_w_h_o": 2.0, "delta_w_i_h": 1.0}
SIGNATURE = "def backward_pass(x, target, learnrate, hidden_layer_out, output_layer_out, weights_hidden_to_output):"

REFERENCE_BODY = """
error = target - output_layer_out
output_error_term = error * output_layer_out * (1 - output_layer_out)
hidden_error = np.dot(output_error_term, weights_hidden_to_output)
hidden_error_term = hidden_error * hidden_layer_out * (1 - hidden_layer_out)
delta_w_h_o = learnrate * output_error_term * hidden_layer_out
delta_w_i_h = learnrate * np.outer(x, hidden_error_term)
return delta_w_h_o, delta_w_i_h
"""


def reference_body(**replacements: str) -> str:
    """The reference body with some steps' right-hand sides replaced: reference_body(error="output_layer_out - target")."""
    unknown = set(replacements) - set(STEPS)
    if unknown:
        raise ValueError(f"not step names: {sorted(unknown)}")
    lines = []
    for line in textwrap.dedent(REFERENCE_BODY).strip().splitlines():
        name = line.split(" = ", 1)[0]
        lines.append(f"{name} = {replacements[name]}" if name in replacements else line)
    return "\n".join(lines) + "\n"


def function_source(body: str, signature: str = SIGNATURE) -> str:
    """The cell defining the graded function, with `body` (written unindented) as its body."""
    indented = textwrap.indent(textwrap.dedent(body).strip("\n"), "    ")
    return f'{signature}\n    """\n    Make a backward pass through the network\n    """\n{indented}\n'


def _is_function_cell(cell: nbformat.NotebookNode) -> bool:
    return cell.cell_type == "code" and "def backward_pass(" in cell.source


def _is_demo_cell(cell: nbformat.NotebookNode) -> bool:
    return cell.cell_type == "code" and "backward_pass(x, target" in cell.source and "def backward_pass" not in cell.source


def _copy_cell(cell: nbformat.NotebookNode) -> nbformat.NotebookNode:
    if cell.cell_type == "code":
        return v4.new_code_cell(cell.source)
    return v4.new_markdown_cell(cell.source)


def student_notebook(
    body: str = REFERENCE_BODY,
    *,
    extra_cells: Sequence[str] = (),
    helper_cells: Sequence[str] = (),
    demo: bool = True,
    signature: str = SIGNATURE,
    metadata: bool = True,
) -> nbformat.NotebookNode:
    """A notebook like a student hands in: the stub's cells, with `body` as backward_pass's body.

    `helper_cells` (code) go just before the backward_pass cell, `extra_cells` (code) at the end;
    `demo=False` drops the demo cell; `metadata=False` drops the stub's grader metadata.
    """
    stub = nbformat.read(STUB, as_version=4)
    cells = []
    for cell in stub.cells:
        if _is_function_cell(cell):
            cells.extend(v4.new_code_cell(source) for source in helper_cells)
            cells.append(v4.new_code_cell(function_source(body, signature)))
        elif _is_demo_cell(cell):
            if demo:
                cells.append(_copy_cell(cell))
        else:
            cells.append(_copy_cell(cell))
    cells.extend(v4.new_code_cell(source) for source in extra_cells)
    node = v4.new_notebook(cells=cells)
    node.metadata = copy.deepcopy(stub.metadata) if metadata else {}
    if not metadata:
        node.metadata["kernelspec"] = copy.deepcopy(stub.metadata.get("kernelspec", {}))
    return node


def code_sources(node: nbformat.NotebookNode) -> list[str]:
    """The text of every code cell, in order."""
    return [cell.source for cell in node.cells if cell.cell_type == "code"]


def write(node: nbformat.NotebookNode, path: Path) -> Path:
    """Write a v4 notebook node to `path` (parent folders created) and return the path."""
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(node, str(path))
    return path


# An endless loop that swallows whatever is raised in it to stop it: only a kill ends it.
STUBBORN_LOOP = """
while True:
    try:
        while True:
            pass
    except BaseException:
        pass
"""
