"""A synthetic class built from the course's stub: correct, wrong, broken and slow notebooks.

Every notebook's text differs (a student number in a comment, varied spacing), so neither the
cache nor the results log can recognise one from another.
"""

from __future__ import annotations

import copy
import json
import random
import re
from dataclasses import dataclass
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]
STUB = ROOT / "assignments" / "backward_pass" / "backward_pass.ipynb"
SOLUTION = ROOT / "solutions" / "backward_pass" / "backward_pass.ipynb"
HEADER = "def backward_pass(x, target, learnrate, hidden_layer_out, output_layer_out, weights_hidden_to_output):\n"


def _reference_body() -> str:
    """backward_pass's body in the reference notebook, after its docstring, without the `# SOLUTION` markers."""
    book = nbformat.read(SOLUTION, as_version=4)
    source = next(cell.source for cell in book.cells if cell.cell_type == "code" and "def backward_pass(" in cell.source)
    after_docstring = source.split('"""', 2)[2].split("\n", 1)[1]
    return re.sub(r"[ \t]*# SOLUTION[ \t]*$", "", after_docstring, flags=re.MULTILINE).rstrip("\n") + "\n"


# The reference body, indented one level (the course's TODO comments included, as students keep them).
REFERENCE = _reference_body()


def _edit(old: str, new: str) -> str:
    assert old in REFERENCE, old
    return REFERENCE.replace(old, new)


# Bodies of backward_pass by kind; each is indented one level.
BODIES: dict[str, str] = {
    "correct": REFERENCE,
    "correct_matmul": _edit("np.dot(output_error_term, weights_hidden_to_output)", "output_error_term * weights_hidden_to_output")
    .replace("np.outer(x, hidden_error_term)", "x[:, None] * hidden_error_term"),
    "correct_renamed": """\
    e = target - output_layer_out
    d_out = e * output_layer_out * (1 - output_layer_out)
    d_hidden = d_out * weights_hidden_to_output * hidden_layer_out * (1 - hidden_layer_out)
    return learnrate * d_out * hidden_layer_out, learnrate * np.outer(x, d_hidden)
""",
    "correct_float32": "    x = np.asarray(x, dtype=np.float32)\n" + REFERENCE,
    "wrong_sign": _edit("error = target - output_layer_out", "error = output_layer_out - target"),
    "wrong_no_derivative": _edit("output_error_term = error * output_layer_out * (1 - output_layer_out)",
                                 "output_error_term = error"),
    "wrong_hidden_derivative": _edit("hidden_error_term = hidden_error * hidden_layer_out * (1 - hidden_layer_out)",
                                     "hidden_error_term = hidden_error"),
    "wrong_no_learnrate": _edit("delta_w_h_o = learnrate * ", "delta_w_h_o = ").replace("learnrate * np.outer", "np.outer"),
    "wrong_transposed": _edit("np.outer(x, hidden_error_term)", "np.outer(hidden_error_term, x)"),
    "wrong_uses_error": _edit("delta_w_h_o = learnrate * output_error_term", "delta_w_h_o = learnrate * error"),
    "mutates_input": "    x *= 1.0\n" + REFERENCE,
    "not_attempted": """\
    error = None
    output_error_term = None
    hidden_error = None
    hidden_error_term = None
    delta_w_h_o = None
    delta_w_i_h = None
    return delta_w_h_o, delta_w_i_h
""",
    "broken_syntax": _edit("(1 - output_layer_out)\n", "(1 - output_layer_out\n"),
    "broken_raises": _edit("hidden_error = np.dot(output_error_term, weights_hidden_to_output)",
                           "hidden_error = np.dot(output_error_term, weights_hiden_to_output)"),
    "broken_returns_none": REFERENCE.replace("    return delta_w_h_o, delta_w_i_h\n", ""),
    "slow_training_demo": REFERENCE,
    "stuck_demo": REFERENCE,
}
# How often each kind appears in the class (parts per thousand).
MIX: dict[str, int] = {
    "correct": 300, "correct_matmul": 120, "correct_renamed": 40, "correct_float32": 40,
    "wrong_sign": 60, "wrong_no_derivative": 60, "wrong_hidden_derivative": 50, "wrong_no_learnrate": 40,
    "wrong_transposed": 40, "wrong_uses_error": 30, "mutates_input": 20, "not_attempted": 30,
    "broken_syntax": 30, "broken_raises": 30, "broken_returns_none": 15, "missing_function": 15, "invalid_json": 20,
    "slow_training_demo": 58, "stuck_demo": 2,
}
# A demo cell that trains the network for a while (real students do), and one that never ends.
TRAINING = """
for epoch in range(400):
    hidden_layer_out, output_layer_out = forward_pass(x, weights_input_to_hidden, weights_hidden_to_output)
    delta_w_h_o, delta_w_i_h = backward_pass(x, target, learnrate, hidden_layer_out, output_layer_out,
                                             weights_hidden_to_output)
    weights_hidden_to_output = weights_hidden_to_output + delta_w_h_o
    weights_input_to_hidden = weights_input_to_hidden + delta_w_i_h
"""
STUCK = "\nwhile True:\n    pass\n"


@dataclass(frozen=True)
class Student:
    """One synthetic submission."""

    name: str
    kind: str


def roster(size: int, seed: int = 7) -> list[Student]:
    """`size` students with kinds drawn in the proportions of MIX, reproducibly."""
    kinds = [kind for kind, weight in MIX.items() for _ in range(weight)]
    chooser = random.Random(seed)
    return [Student(f"student{number:05d}", chooser.choice(kinds)) for number in range(size)]


def notebook_text(student: Student, stub: dict) -> str:
    """The notebook file of one student, as text."""
    book = copy.deepcopy(stub)
    padding = " " * (sum(map(ord, student.name)) % 5)
    tag = f"    # {student.name}: my backward pass{padding}\n"
    for cell in book["cells"]:
        source = "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]
        if cell["cell_type"] == "code" and "def backward_pass" in source:
            name_line = HEADER.replace("backward_pass", "backprop") if student.kind == "missing_function" else HEADER
            cell["source"] = name_line + tag + BODIES.get(student.kind, REFERENCE)
        elif cell["cell_type"] == "code" and "Create some random data" in source:
            extra = TRAINING if student.kind == "slow_training_demo" else STUCK if student.kind == "stuck_demo" else ""
            cell["source"] = source + "\n" + extra
    text = json.dumps(book, indent=1)
    return text[: len(text) // 2] if student.kind == "invalid_json" else text


def build_class(folder: Path, size: int, seed: int = 7) -> list[Student]:
    """Write `size` notebooks as folder/<student>/backward_pass.ipynb; return the roster."""
    stub = json.loads(STUB.read_text(encoding="utf-8"))
    students = roster(size, seed)
    for student in students:
        target = folder / student.name / "backward_pass.ipynb"
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(notebook_text(student, stub), encoding="utf-8")
    return students
