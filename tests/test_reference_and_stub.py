"""The repo holds itself to its own content: the reference scores 10, the stub is fresh and empty."""

from __future__ import annotations

import contextlib
import io
import json
import re
from decimal import Decimal
from pathlib import Path

import nbformat
import pytest
from click.testing import CliRunner

from grader.assignment import available
from grader.cli import make_stub
from tests.conftest import CLEAN_ENV, steps_of
from tests.notebooks import ASSIGNMENTS, REFERENCE, SOLUTIONS, STEPS, STUB

PUBLIC_CASE = ASSIGNMENTS / "backward_pass" / "public_case.json"

# What the course publishes for the demo cell (the public case).
COURSE_OUTPUT = """\
Change in weights for hidden layer to output layer:
[0.00804047 0.00555918]
Change in weights for input layer to hidden layer:
[[ 1.77005547e-04 -5.11178506e-04]
 [ 3.54011093e-05 -1.02235701e-04]
 [-7.08022187e-05  2.04471402e-04]]
"""
COURSE_DELTA_W_H_O = ["0.00804047", "0.00555918"]
COURSE_DELTA_W_I_H = [["1.77005547e-04", "-5.11178506e-04"],
                      ["3.54011093e-05", "-1.02235701e-04"],
                      ["-7.08022187e-05", "2.04471402e-04"]]


@pytest.fixture(scope="module")
def graded(run_grade):
    """The reference and the untouched stub, graded in one run."""
    run = run_grade(REFERENCE, STUB)
    assert run.exit_code == 0, run.stderr
    return run


def _row(run, path: Path) -> dict:
    rows = [row for row in run.doc["submissions"] if Path(row["submission"]).resolve() == path.resolve()]
    assert len(rows) == 1
    return rows[0]


def test_reference_scores_full_marks(graded):
    row = _row(graded, REFERENCE)
    assert row["status"] == "graded"
    assert row["score"] == row["max_score"] == graded.doc["max_score"] == 10
    assert [step["name"] for step in row["steps"]] == list(STEPS)
    for step in row["steps"]:
        assert step["status"] == "pass", step
        assert step["score"] == step["max_score"]
        assert step["cases_passed"] == step["cases_total"] > 1
        assert step["carried_forward"] is False
    assert row["first_wrong_step"] is None


def test_reference_prints_the_course_deltas():
    node = nbformat.read(REFERENCE, as_version=4)
    namespace: dict = {"__name__": "__main__"}
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        for cell in node.cells:
            if cell.cell_type == "code":
                exec(compile(cell.source, str(REFERENCE), "exec"), namespace)
    got = [line.strip() for line in printed.getvalue().strip().splitlines()]
    assert got == [line.strip() for line in COURSE_OUTPUT.strip().splitlines()]


def test_untouched_stub_is_not_attempted(graded):
    row = _row(graded, STUB)
    assert row["status"] == "graded"
    assert row["score"] == 0
    assert [step["status"] for step in row["steps"]] == ["missing"] * len(STEPS)
    assert any("Not attempted" in message for message in row["messages"]), row["messages"]


def test_committed_stub_equals_a_fresh_generation():
    result = CliRunner().invoke(
        make_stub, ["--check", "--solutions", str(SOLUTIONS), "--assignments", str(ASSIGNMENTS)], env=CLEAN_ENV
    )
    assert result.exit_code == 0, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)


def test_make_stub_writes_the_committed_files(tmp_path):
    result = CliRunner().invoke(make_stub, ["--solutions", str(SOLUTIONS), "--assignments", str(tmp_path)], env=CLEAN_ENV)
    assert result.exit_code == 0, result.output
    written = sorted(path.relative_to(tmp_path) for path in tmp_path.rglob("*") if path.is_file())
    # Every assignment of the solutions folder has its committed stub and public case, backward_pass's among them.
    committed = sorted(path.relative_to(ASSIGNMENTS) for name in available(SOLUTIONS)
                       for path in (ASSIGNMENTS / name).rglob("*") if path.is_file())
    assert written == committed
    assert {STUB.relative_to(ASSIGNMENTS), PUBLIC_CASE.relative_to(ASSIGNMENTS)} <= set(written)
    for relative in written:
        assert (tmp_path / relative).read_bytes() == (ASSIGNMENTS / relative).read_bytes(), relative


def test_stub_holds_no_solution():
    text = STUB.read_text(encoding="utf-8")
    for answer in ("np.outer(", "target - output_layer_out", "output_layer_out * (1 - output_layer_out)",
                   "hidden_layer_out * (1 - hidden_layer_out)", "SOLUTION"):
        assert answer not in text, answer
    node = nbformat.read(STUB, as_version=4)
    function_cells = [cell.source for cell in node.cells if cell.cell_type == "code" and "def backward_pass(" in cell.source]
    assert len(function_cells) == 1
    for step in STEPS:
        assert re.search(rf"^\s+{step} = None\s*$", function_cells[0], re.MULTILINE), step
    assert node.metadata["backprop_grader"]["assignment"] == "backward_pass"
    for cell in node.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None


def test_stub_carries_the_public_case_file():
    node = nbformat.read(STUB, as_version=4)
    assert node.metadata["backprop_grader"]["public_case"] == json.loads(PUBLIC_CASE.read_text(encoding="utf-8"))


def _agrees(value: float, published: str) -> bool:
    """`value` rounds to the published number at the published precision (8 significant digits or more)."""
    quantum = Decimal(1).scaleb(Decimal(published).as_tuple().exponent)
    return abs(Decimal(repr(value)) - Decimal(published)) <= quantum / 2


def test_public_case_expected_deltas_are_the_course_numbers():
    expected = json.loads(PUBLIC_CASE.read_text(encoding="utf-8"))["expected"]
    assert len(expected["delta_w_h_o"]) == len(COURSE_DELTA_W_H_O)
    for value, published in zip(expected["delta_w_h_o"], COURSE_DELTA_W_H_O):
        assert _agrees(value, published), (value, published)
    assert [len(row) for row in expected["delta_w_i_h"]] == [len(row) for row in COURSE_DELTA_W_I_H]
    for got_row, published_row in zip(expected["delta_w_i_h"], COURSE_DELTA_W_I_H):
        for value, published in zip(got_row, published_row):
            assert _agrees(value, published), (value, published)
            assert f"{value:.7e}" == f"{float(published):.7e}"  # 8 significant digits
    assert set(expected) == set(STEPS)


def test_public_case_arguments_are_the_demo_cell():
    arguments = json.loads(PUBLIC_CASE.read_text(encoding="utf-8"))["arguments"]
    assert arguments["x"]["value"] == [0.5, 0.1, -0.2]
    assert arguments["target"]["value"] == 0.6
    assert arguments["learnrate"]["value"] == 0.5
    assert arguments["weights_hidden_to_output"]["value"] == [0.1, -0.3]


def test_reference_steps_in_report_follow_design_order(graded):
    assert list(steps_of(_row(graded, REFERENCE))) == list(STEPS)
