"""Building the public and hidden cases, with the reference's value of every step."""

from __future__ import annotations

import types
from typing import Any

import numpy as np

from grader import capture, values
from grader.assignment.loader import Assignment
from grader.errors import InternalError
from grader.models import Case, ReferenceRun


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
    called = copy_arguments(arguments)
    returned, scope, recorder = reference.call(rubric.function, called)
    run = ReferenceRun(dict(scope), {step: tuple(recorder.scopes.get(step, ())) for step in rubric.iteration_steps},
                       {step: tuple(recorder.before.get(step, ())) for step in rubric.iteration_steps})
    iterations, positions, _, overflow = recorder.take_iterations()
    if overflow:
        raise InternalError(f"case {name}: the reference records more than {capture.MAX_ITERATIONS} iterations "
                            f"of {', '.join(sorted(overflow))}")
    values_returned = returned_values(returned, len(rubric.returns))
    if values_returned is None:
        raise InternalError(f"the reference {rubric.function}() does not return {len(rubric.returns)} values")
    scope.update({step: called[step] for step in rubric.updates if step in called})
    scope.update(zip(rubric.returns, values_returned))
    expected = {}
    for step in rubric.steps:
        if step.per_iteration:
            sequence = [values.coerce(value) for value in iterations.get(step.name, [])]
            if not sequence or len({value.shape for value in sequence if isinstance(value, np.ndarray)}) != 1:
                raise InternalError(f"case {name}: the reference's {step.name} has no iterations, or values of "
                                    "different shapes from one iteration to the next")
            value = np.stack(sequence) if all(isinstance(item, np.ndarray) for item in sequence) else None
        else:
            value = values.coerce(scope.get(step.name))
        if not isinstance(value, np.ndarray) or not np.all(np.isfinite(value)):
            raise InternalError(f"case {name}: the reference's {step.name} is not a finite number or array")
        expected[step.name] = value
    steps_positions = {step: tuple(positions[step]) for step in rubric.iteration_steps}
    return Case(name, label, public, arguments, expected, inputs, steps_positions, run)


def returned_values(returned: Any, count: int) -> tuple | None:
    """The returned values, one per returned name: one value (a 1-tuple too) for one name; a tuple or list for several;
    nothing for none (a function that only updates its arguments in place)."""
    if count == 0:
        return ()
    if count == 1:
        return (returned[0],) if type(returned) is tuple and len(returned) == 1 else (returned,)
    if type(returned) in (tuple, list) and len(returned) == count:
        return tuple(returned)
    return None


def copy_arguments(arguments: dict[str, Any]) -> dict[str, Any]:
    """Fresh copies, so no call can change the arguments another call sees."""
    return {name: value.copy() if isinstance(value, np.ndarray) else value for name, value in arguments.items()}


def case_to_wire(case: Case) -> dict:
    """A case as the sandbox child receives it: its name, whether it is public, its arguments. No expected value."""
    return {"name": case.name, "public": case.public,
            "arguments": {name: values.encode_argument(value) for name, value in case.arguments.items()}}
