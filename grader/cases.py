"""Building the public and hidden cases, with the reference's value of every step."""

from __future__ import annotations

import types
from typing import Any

import numpy as np

from grader import values
from grader.assignment import Assignment
from grader.errors import InternalError
from grader.models import Case


def build(assignment: Assignment, seed: int) -> list[Case]:
    """The public case followed by the rubric's number of hidden cases drawn with `seed`."""
    reference, rubric = assignment.reference, assignment.rubric
    module = reference.cases
    facade = types.SimpleNamespace(**reference.namespace)
    try:
        public = module.public_inputs()
        hidden = module.hidden_inputs(np.random.default_rng(seed), rubric.hidden_cases, facade)
        labelled = [("public", "the demo cell's inputs", True, public)]
        labelled += [(f"hidden-{number}", label, False, inputs) for number, (label, inputs) in enumerate(hidden, start=1)]
        return [_case(assignment, facade, *entry) for entry in labelled]
    except InternalError:
        raise
    except Exception as error:
        raise InternalError(f"building the cases of {assignment.name} failed: {error!r}") from None


def _case(assignment: Assignment, facade, name: str, label: str, public: bool, inputs: dict) -> Case:
    rubric, reference = assignment.rubric, assignment.reference
    arguments = assignment.reference.cases.arguments(facade, inputs)
    missing = [parameter for parameter in reference.parameters if parameter not in arguments]
    if missing:
        raise InternalError(f"case {name}: arguments() gives no value for {', '.join(missing)}")
    returned, scope = reference.call(rubric.function, copy_arguments(arguments))
    if type(returned) not in (tuple, list) or len(returned) != len(rubric.returns):
        raise InternalError(f"the reference {rubric.function}() does not return {len(rubric.returns)} values")
    scope.update(zip(rubric.returns, returned))
    expected = {}
    for step in rubric.step_names:
        value = values.coerce(scope.get(step))
        if not isinstance(value, np.ndarray) or not np.all(np.isfinite(value)):
            raise InternalError(f"case {name}: the reference's {step} is not a finite number or array")
        expected[step] = value
    return Case(name, label, public, arguments, expected, inputs)


def copy_arguments(arguments: dict[str, Any]) -> dict[str, Any]:
    """Fresh copies, so no call can change the arguments another call sees."""
    return {name: value.copy() if isinstance(value, np.ndarray) else value for name, value in arguments.items()}


def case_to_wire(case: Case) -> dict:
    """A case as the sandbox child receives it: its name, whether it is public, its arguments. No expected value."""
    return {"name": case.name, "public": case.public,
            "arguments": {name: to_wire(value) for name, value in case.arguments.items()}}


def to_wire(value: Any) -> dict:
    """An argument as plain data for the sandbox child, keeping its Python type."""
    if isinstance(value, (float, int)) and not isinstance(value, (bool, np.generic)):
        return {"kind": "float", "value": float(value)}
    array = np.asarray(value, dtype=np.float64)
    if isinstance(value, np.generic) or array.ndim == 0:
        return {"kind": "scalar", "value": float(array)}
    return {"kind": "array", "value": array.tolist()}


def from_wire(encoded: dict) -> Any:
    """The inverse of `to_wire`, for the student self-check (which reads the public case file)."""
    kind, value = encoded["kind"], encoded["value"]
    if kind == "float":
        return float(value)
    if kind == "scalar":
        return np.float64(value)
    return np.array(value, dtype=np.float64)
