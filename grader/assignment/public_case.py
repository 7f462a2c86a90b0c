"""The public case: the demo cell's inputs and every step's expected value, for the student's self-check.

`grade-stub` writes it to `assignments/<name>/public_case.json` and into the stub's metadata;
`grade-check` reads it back (no solutions needed): the rubric as far as the student may see it
and the one public case. It also carries, for each way of writing each known mistake of the
catalogue, the values that mistake gives on the public case: at its own step (computed from the
reference's earlier values) and at every later step (what the reference computes from the mistaken
value, as error carried forward does). Values only, never a formula: enough for the self-check to
name a mistake and judge the steps after it as the grade does, without shipping the solution.
"""

from __future__ import annotations

import dataclasses
import json

import numpy as np

from grader import formulas, values
from grader.assignment import catalogue as catalogue_file
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
        "carried_forward_credit": rubric.carried_forward_credit,
        "mistakes": known_mistakes(assignment, public),
    } | _loop_keys(rubric, public)


@dataclasses.dataclass(frozen=True)
class KnownMistake:
    """One way of writing a catalogue mistake, as it shows on the public case."""

    name: str
    step: str
    message: str
    """The catalogue's explanation and hint, as the grade's diagnosis says them."""
    values: dict[str, np.ndarray]
    """Its value at its step, then the reference's value of every later step computed from it, as far as it goes."""


def known_mistakes(assignment: Assignment, public: Case) -> list[dict]:
    """Every catalogue formula's values on the public case (module docstring); none without a catalogue.

    A formula that does not fit the public case's shapes (it raises) gives no entry: a student who
    wrote it raised too, and only the hidden cases can tell more.
    """
    layout, rubric, reference = assignment.layout, assignment.rubric, assignment.reference
    if not layout.misconceptions:
        return []
    catalogue = catalogue_file.load(layout.directory / layout.misconceptions, rubric, reference)
    names = rubric.step_names
    found = []
    for entry in catalogue.entries:
        for variant, formula in enumerate(entry.formulas):
            chain: dict[str, np.ndarray] = {}
            for step in names[names.index(entry.step):]:
                code = formula if step == entry.step else reference.formulas[step]
                value = formulas.evaluate(code, reference.namespace, rubric.steps, public, chain, step, chained=True)
                if value is None or not np.all(np.isfinite(value)):
                    break
                chain[step] = value
            if entry.step in chain:
                found.append({"name": entry.name, "variant": variant, "step": entry.step, "message": entry.message,
                              "values": {step: value.tolist() for step, value in chain.items()}})
    return found


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


def read_mistakes(document: dict) -> tuple[KnownMistake, ...]:
    """The known mistakes a public case document carries (none in one written before they were added)."""
    try:
        return tuple(KnownMistake(str(item["name"]), str(item["step"]), str(item["message"]),
                                  {str(step): np.array(value, dtype=np.float64) for step, value in item["values"].items()})
                     for item in document.get("mistakes", []))
    except (KeyError, TypeError, ValueError, AttributeError) as error:
        raise ConfigError(f"the public case document is malformed ({error!r})") from None


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
            carried_forward_credit=float(document.get("carried_forward_credit", 1.0)), hidden_cases=0,
            iteration=tuple(str(word) for word in iteration), updates=tuple(str(name) for name in document.get("updates", [])),
            words=Words(**{key: str(value) for key, value in document.get("words", {}).items()
                           if key in ("unit", "row", "column")}),
        )
        positions = {str(name): tuple(tuple(int(number) for number in position) for position in listed)
                     for name, listed in document.get("positions", {}).items()}
        arguments = {name: values.decode_argument(value) for name, value in document["arguments"].items()}
        expected = {name: np.array(value, dtype=np.float64) for name, value in document["expected"].items()}
        parameters = [str(name) for name in document["parameters"]]
    except (KeyError, TypeError, ValueError, AttributeError) as error:
        raise ConfigError(f"the public case document is malformed ({error!r})") from None
    return rubric, Case("public", "the demo cell's inputs", True, arguments, expected, positions=positions), parameters
