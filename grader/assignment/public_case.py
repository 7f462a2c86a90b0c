"""The public case: the demo cell's inputs and every step's expected value, for the student's self-check.

`grade-stub` writes it to `assignments/<name>/public_case.json` and into the stub's metadata;
`grade-check` reads it back (no solutions needed): the rubric as far as the student may see it
and the one public case.
"""

from __future__ import annotations

import dataclasses
import json

import numpy as np

from grader import values
from grader.assignment.loader import Assignment
from grader.assignment.rubric import Rubric
from grader.errors import ConfigError
from grader.models import FINAL, Case, Step, Tolerance, Words

PUBLIC_CASE = "public_case.json"


def public_case(assignment: Assignment, cases: list) -> dict:
    """The public case as a self-contained document: enough for a student's self-check."""
    rubric = assignment.rubric
    public = next(case for case in cases if case.public)
    return {
        "assignment": assignment.name,
        "title": rubric.title,
        "function": rubric.function,
        "parameters": list(assignment.reference.parameters),
        "returns": list(rubric.returns),
        "steps": [{"name": step.name, "points": step.points, "hint": step.hint}
                  | ({"capture": step.capture} if step.per_iteration else {}) for step in rubric.steps],
        "tolerance": {"rtol": rubric.tolerance.rtol, "atol": rubric.tolerance.atol},
        "arguments": {name: values.encode_argument(value) for name, value in public.arguments.items()},
        "expected": {name: value.tolist() for name, value in public.expected.items()},
    } | _loop_keys(rubric, public)


def _loop_keys(rubric: Rubric, public: Case) -> dict:
    """What the self-check needs of the step model beyond the defaults (absent for an assignment without them)."""
    keys: dict = {}
    if rubric.iteration_steps:
        keys["iteration"] = list(rubric.iteration)
        keys["positions"] = {name: [list(position) for position in public.positions[name]] for name in rubric.iteration_steps}
    if rubric.updates:
        keys["updates"] = list(rubric.updates)
    words = {key: value for key, value in dataclasses.asdict(rubric.words).items() if value is not None}
    if words:
        keys["words"] = words
    return keys


def render_case(document: dict) -> str:
    return json.dumps(document, indent=1) + "\n"


def read(document: dict) -> tuple[Rubric, Case, list[str]]:
    """The grading rules, the single public case and the graded function's parameters a public case document describes."""
    try:
        steps = tuple(Step(str(s["name"]), float(s["points"]), str(s.get("hint", "")), str(s.get("capture", FINAL)))
                      for s in document["steps"])
        iteration = document.get("iteration", ["iteration"])
        rubric = Rubric(
            title=str(document["title"]), function=str(document["function"]),
            returns=tuple(document["returns"]), steps=steps,
            tolerance=Tolerance(float(document["tolerance"]["rtol"]), float(document["tolerance"]["atol"])),
            carried_forward_credit=1.0, hidden_cases=0,
            iteration=tuple(str(word) for word in iteration), updates=tuple(str(name) for name in document.get("updates", [])),
            words=Words(**{key: str(value) for key, value in document.get("words", {}).items()
                           if key in ("unit", "row", "column")}),
        )
        positions = {str(name): tuple(tuple(int(number) for number in position) for position in listed)
                     for name, listed in document.get("positions", {}).items()}
        arguments = {name: values.decode_argument(value) for name, value in document["arguments"].items()}
        expected = {name: np.array(value, dtype=np.float64) for name, value in document["expected"].items()}
        parameters = [str(name) for name in document["parameters"]]
    except (KeyError, TypeError, ValueError) as error:
        raise ConfigError(f"the public case document is malformed ({error})") from None
    return rubric, Case("public", "the demo cell's inputs", True, arguments, expected, positions=positions), parameters
