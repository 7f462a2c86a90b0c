"""The stub's cells, parsed and compiled once in the fork server (child.prepare_stub): a child whose cell is the
stub's, in place or moved, runs exactly what it would have parsed and compiled itself.

Each notebook runs through `child.run` in a forked child twice, with the prepared stub and without it, and the
two documents (warnings, notes, every case's values) must be identical; then one batch through the CLI checks
that a moved stub cell that fails is reported at its new place. Every assignment's stub is used.
"""

from __future__ import annotations

import os
from pathlib import Path

import nbformat
import pytest
from nbformat import v4

from grader import assignment, batch, notebook
from grader.assignment import cases as case_builder
from grader.sandbox import child
from tests import forked
from tests.conftest import invoke_grade
from tests.notebooks import REFERENCE_BODY, SOLUTIONS, reference_body, student_notebook, write

REPO = Path(__file__).resolve().parents[1]


def _in_child(job: dict, wire_cases: list, stub: child.StubCells | None) -> dict:
    """`child.run` in a forked child (as the fork server runs it), its document read back."""
    def run() -> dict:
        null = os.open(os.devnull, os.O_WRONLY)
        os.dup2(null, 1)
        os.dup2(null, 2)
        return child.run(job, wire_cases, None, stub)

    return forked.in_child(run)


def _with_cell_on_top(node: nbformat.NotebookNode, source: str) -> nbformat.NotebookNode:
    """The notebook with a code cell added first: every stub cell moves one place down."""
    node.cells.insert(0, v4.new_code_cell(source))
    return node


def _stub_node(name: str) -> nbformat.NotebookNode:
    return nbformat.read(REPO / "assignments" / name / f"{name}.ipynb", as_version=4)


def _variants(name: str) -> dict[str, nbformat.NotebookNode]:
    """The stub as given, moved down, with a stub cell repeated elsewhere, and with cells that fail around it."""
    variants = {"stub": _stub_node(name), "moved": _with_cell_on_top(_stub_node(name), "x = 1\n")}
    repeated = _stub_node(name)
    codes = [cell for cell in repeated.cells if cell.cell_type == "code"]
    repeated.cells.append(v4.new_code_cell(codes[0].source))
    repeated.cells.append(v4.new_code_cell(codes[-2].source))
    variants["repeated"] = repeated
    variants["failing"] = _with_cell_on_top(_stub_node(name), "return 1\n")
    variants["failing"].cells.append(v4.new_code_cell("def broken(:\n    pass\n"))
    variants["failing"].cells.append(v4.new_code_cell("%%bash\necho hi\n"))
    return variants


@pytest.mark.parametrize("name", ["backward_pass", "forward_pass", "gradient_descent", "softmax_cross_entropy",
                                  "train_network"])
def test_a_child_runs_the_stubs_cells_as_it_would_have_prepared_them(tmp_path: Path, name: str) -> None:
    loaded = assignment.load(SOLUTIONS, name)
    grader = batch.Grader(loaded, loaded.defaults.seed, jobs=1)
    wire_cases = [case_builder.case_to_wire(case) for case in grader.cases]
    stub = child.prepare_stub(grader._stub())
    assert stub is not None and len(stub.cells) >= 3
    nodes = _variants(name)
    if name == "backward_pass":
        nodes["right"] = student_notebook(REFERENCE_BODY)
        nodes["raises"] = _with_cell_on_top(student_notebook('raise ValueError("not yet")'), "import sys\n")
        nodes["wrong"] = student_notebook(reference_body(error="output_layer_out - target"))
    for variant, node in nodes.items():
        path = write(node, tmp_path / variant / f"{name}.ipynb")
        job = batch.sandbox_job(notebook.read(path), loaded.rubric, grader.settings.limits,
                                loaded.reference.parameters)
        prepared, parsed = _in_child(job, wire_cases, stub), _in_child(job, wire_cases, None)
        assert prepared == parsed, variant
        assert prepared["cases"] or prepared["function"] != "defined", variant


def test_a_moved_stub_cell_is_reported_where_it_is(tmp_path: Path) -> None:
    """Through the CLI: the demo cell, left as the stub has it but moved two places down, calls a function that
    raises, then prints names it never got; the warnings name the function's cell and the demo cell where they are
    now, never the demo cell's place in the stub."""
    node = student_notebook('raise ValueError("not yet")')
    node.cells.insert(0, v4.new_code_cell("a = 1\n"))
    node.cells.insert(0, v4.new_code_cell("b = 2\n"))
    write(node, tmp_path / "moved" / "backward_pass.ipynb")
    demo = next(position for position, cell in enumerate(node.cells, start=1)
                if cell.cell_type == "code" and "backward_pass(" in cell.source and "def backward_pass" not in cell.source)
    function = next(position for position, cell in enumerate(node.cells, start=1)
                    if cell.cell_type == "code" and "def backward_pass" in cell.source)
    row = invoke_grade(tmp_path, "--no-cache").submission("moved")
    shown = "\n".join(row["messages"])
    assert f"cell {function}, line 5: ValueError: not yet" in shown, shown
    assert f"cell {demo}, line 19: NameError" in shown and f"cell {demo - 2}, line 19" not in shown, shown
