"""The instructor's feedback files: a catalogue whose entries can be told apart, an oracle that agrees with the reference."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from grader import assignment
from grader.assignment import cases as case_builder
from grader.assignment import catalogue as catalogue_file
from grader.assignment import oracle as oracle_file
from grader.compare import close
from grader.errors import ConfigError, InternalError
from tests.feedback_notebooks import run_grade
from tests.notebooks import SOLUTIONS, reference_body, student_notebook, write


@pytest.fixture(scope="module")
def loaded() -> assignment.Assignment:
    return assignment.load(SOLUTIONS, "backward_pass")


@pytest.fixture(scope="module")
def cases(loaded):
    return case_builder.build(loaded, loaded.defaults.seed)


def test_oracle_agrees_with_the_reference_on_every_hidden_case(loaded, cases):
    oracle = oracle_file.load(loaded, cases)
    hidden = [(case, values) for case, values in zip(cases, oracle.values) if not case.public]
    assert len(hidden) == loaded.rubric.hidden_cases
    for case, values in hidden:
        for name in loaded.rubric.returns:
            assert values[name].shape == case.expected[name].shape
            assert close(values[name], case.expected[name], loaded.rubric.tolerance).all(), (case.label, name)


def _entry_values(catalogue: assignment.Catalogue, entry: assignment.Misconception, case) -> list:
    """Each formula's value on a case, from the reference's own earlier values (None where it raises)."""
    scope = dict(case.arguments) | {name: value for name, value in case.expected.items() if name != entry.step}
    found = []
    for formula in entry.formulas:
        try:
            with np.errstate(all="ignore"):
                found.append(np.asarray(eval(formula, catalogue.namespace, scope), dtype=np.float64))
        except ValueError:
            found.append(None)
    return found


def _differs(a: np.ndarray | None, b: np.ndarray | None, tolerance) -> bool:
    if a is None or b is None:
        return a is not b
    return a.shape != b.shape or not close(a, b, tolerance).all()


def test_every_entry_differs_from_the_reference_and_from_its_neighbours(loaded, cases):
    """Otherwise an entry could never fire, or two entries would name the same values."""
    catalogue = catalogue_file.load(SOLUTIONS / "backward_pass" / loaded.layout.misconceptions, loaded.rubric, loaded.reference)
    tolerance = loaded.rubric.tolerance
    values = {entry.name: [_entry_values(catalogue, entry, case) for case in cases] for entry in catalogue.entries}
    for entry in catalogue.entries:
        for number in range(len(entry.formulas)):
            assert any(_differs(found[number], case.expected[entry.step], tolerance)
                       for found, case in zip(values[entry.name], cases)), entry.name
        for other in catalogue.entries:
            if other.step == entry.step and other.name < entry.name:
                for mine in range(len(entry.formulas)):
                    for theirs in range(len(other.formulas)):
                        assert any(_differs(a[mine], b[theirs], tolerance)
                                   for a, b in zip(values[entry.name], values[other.name])), (entry.name, other.name)


GOOD = {"name": "n", "step": "error", "formula": "output_layer_out - target", "explanation": "e", "hint": "h"}


def _toml(entry: dict) -> str:
    lines = ["[[misconception]]"]
    for key, value in entry.items():
        lines.append(f"{key} = {value!r}".replace("'", '"'))
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize(("text", "said"), [
    ("not toml [", "cannot read"),
    ("", "one or more"),
    (_toml({k: v for k, v in GOOD.items() if k != "hint"}), "needs exactly the keys"),
    (_toml(GOOD | {"step": "nonsense"}), "is not a step"),
    (_toml(GOOD | {"formula": "target -"}), "not a Python expression"),
    (_toml(GOOD | {"formula": "hidden_error * 2"}), "uses hidden_error"),  # a later step: never available
    (_toml(GOOD | {"formula": "tagret - output_layer_out"}), "uses tagret"),
    (_toml(GOOD) + _toml(GOOD), "names used twice"),
    (_toml(GOOD | {"hint": " "}), "must be non-empty text"),
])
def test_malformed_catalogue_is_a_configuration_error(tmp_path, loaded, text, said):
    path = tmp_path / "misconceptions.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError, match=said):
        catalogue_file.load(path, loaded.rubric, loaded.reference)


def _solutions_copy(tmp_path: Path) -> Path:
    copy = tmp_path / "solutions"
    shutil.copytree(SOLUTIONS, copy)
    return copy / "backward_pass"


def test_cli_exits_2_on_a_malformed_catalogue_and_3_on_a_wrong_oracle(tmp_path):
    notebook = write(student_notebook(reference_body()), tmp_path / "alice.ipynb")
    folder = _solutions_copy(tmp_path)
    (folder / "misconceptions.toml").write_text(_toml(GOOD | {"step": "nonsense"}), encoding="utf-8")
    code, _, stderr = run_grade(notebook, solutions=folder.parent)
    assert code == 2 and "is not a step" in stderr
    shutil.copy(SOLUTIONS / "backward_pass" / "misconceptions.toml", folder)
    oracle = folder / "oracle.py"
    oracle.write_text(oracle.read_text().replace("-learnrate * gradient", "learnrate * gradient"))
    code, _, stderr = run_grade(notebook, solutions=folder.parent)
    assert code == 3 and "disagree" in stderr


def test_wrong_oracle_is_an_internal_error(tmp_path, loaded, cases):
    folder = _solutions_copy(tmp_path)
    (folder / "oracle.py").write_text('NAME = "Check"\nWHAT = "the step"\n\ndef values(reference, inputs):\n    return {}\n')
    with pytest.raises(InternalError, match="fails on case public"):
        oracle_file.load(assignment.load(folder.parent, "backward_pass"), cases)
