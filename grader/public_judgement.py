"""The self-check's judgement: the public case's verdicts, completed with the known mistakes the public case carries.

`judge` compares every step with the expected value of the public case only; it has no reference
to carry an error forward with. The public case document holds, for each known mistake, its value
at its step and the reference's values of every later step computed from it
(`assignment.public_case.known_mistakes`). From those, as the grade does with the reference:
- the first wrong step is named by the mistake its value matches, when only one mistake's does;
- a later step is right by error carried forward when it matches the matched mistake's chain, and
  wrong when it matches neither that nor the expected value while every step between was explained;
- anything else after an unexplained mistake is left to grading (status `not_run`): only the
  reference can say what the student's own wrong values should have led to.
No score is given: grading decides it on hidden cases too. `score_at_most` is the bound the public
case proves (no step wrong here can earn points there).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from grader import compare
from grader.assignment import Rubric
from grader.assignment.public_case import KnownMistake
from grader.judge import earned, wording
from grader.models import ERROR, FAIL, GRADED, MISSING, NOT_RUN, PASS, Case, Diagnosis, Grade, StepResult
from grader.report.json_report import grade_document

PENDING = NOT_RUN
"""A step the public case cannot judge: it differs from the expected value after an unexplained mistake."""


def complete(grade: Grade, rubric: Rubric, case: Case, found: Mapping[str, Any],
             mistakes: Sequence[KnownMistake], exception: str | None) -> Grade:
    """The public case's grade with known mistakes named and the steps after the first wrong one judged as above.

    `found` holds the student's decoded values of the public case by step, `exception` what the
    function raised there.
    """
    steps = list(grade.steps)
    if not any(step.status != NOT_RUN for step in steps):
        return grade  # nothing ran: the notebook's own problem is the whole story
    first = grade.first_wrong_step
    short = _short(steps, rubric, case, found) if exception else set()
    if short:
        # As the grade does: a loop cut short by the exception is not where the code went wrong first.
        first = next((step.name for index, step in enumerate(steps)
                      if (step.status == FAIL and index not in short) or step.status == MISSING), first)
    diagnoses, messages = list(grade.diagnoses), list(grade.messages)
    if first is not None:
        position = rubric.step_names.index(first)
        value = found.get(first)
        matched = [mistake for mistake in mistakes if mistake.step == first and isinstance(value, np.ndarray)
                   and _as_known(value, mistake.values[first], first, rubric, exception)]
        names = {mistake.name for mistake in matched}
        if len(names) == 1 and not earned.degenerate(value, rubric.tolerance):
            diagnoses.append(Diagnosis(first, matched[0].name, matched[0].message))
        for index in range(position + 1, len(steps)):
            steps[index] = _later(steps[index], rubric, case, found, matched, steps[position:index], exception)
        raised_here = steps[position].status == MISSING and exception and _lacks_only_its_own_value(steps, position, short)
        if raised_here or first != grade.first_wrong_step:
            messages = _first_wrong_said(messages, rubric, grade.first_wrong_step, first, bool(raised_here))
    credit = rubric.carried_forward_credit
    bound = sum(step.max_score * (credit if step.carried_forward or step.status == PENDING else 1.0)
                for step in steps if step.status in (PASS, PENDING))
    # Raising on the public case says nothing of the hidden ones: the notebook was checked, not failed.
    status = GRADED if grade.status == ERROR else grade.status
    return dataclasses.replace(grade, status=status, steps=tuple(steps), diagnoses=tuple(diagnoses),
                               messages=tuple(messages), score=round(bound, 4), first_wrong_step=first)


def _first_wrong_said(messages: Sequence[str], rubric: Rubric, said: str | None, first: str, raised_here: bool
                      ) -> list[str]:
    """The messages with the judge's sentence on the first wrong step (`said`) replaced by one on `first`."""
    hints = {step.name: step.hint for step in rubric.steps}
    old = {wording.first_wrong(said, hints[said]), wording.fix_exception_first(rubric, said)} if said else set()
    new = _raised_at(rubric, first) if raised_here else wording.first_wrong(first, hints[first])
    return [new if message in old else message for message in messages]


def _as_known(value: np.ndarray, known: np.ndarray, step: str, rubric: Rubric, exception: str | None) -> bool:
    """Whether the student's value is the known one; where the function raised inside a loop, on the iterations that ran."""
    if (exception and step in rubric.iteration_steps and value.ndim >= 1 and known.ndim >= 1
            and 0 < len(value) < len(known)):
        known = known[: len(value)]
    return _same(value, known, rubric)


def _short(steps: Sequence[StepResult], rubric: Rubric, case: Case, found: Mapping[str, Any]) -> set[int]:
    """Per-iteration steps right on every iteration that ran before the function raised, but short of the end."""
    short = set()
    for index, step in enumerate(steps):
        value, expected = found.get(step.name), case.expected[step.name]
        if (step.status == FAIL and step.name in rubric.iteration_steps and isinstance(value, np.ndarray)
                and value.ndim >= 1 and 0 < len(value) < len(expected) and _same(value, expected[: len(value)], rubric)):
            short.add(index)
    return short


def _same(got: np.ndarray, expected: np.ndarray, rubric: Rubric) -> bool:
    return compare.check(got, expected, rubric.tolerance, explain=False).ok


def _later(step: StepResult, rubric: Rubric, case: Case, found: Mapping[str, Any], matched: Sequence[KnownMistake],
           upstream: Sequence[StepResult], exception: str | None) -> StepResult:
    """A step after the first wrong one (`upstream`: the steps from that one to this one): right, carried from the
    matched mistake, wrong, or left to grading."""
    if step.status != FAIL:
        return step
    first = upstream[0].name
    value = found.get(step.name)
    if not isinstance(value, np.ndarray):
        return step  # not a value at all (None, text): nothing carried can make it right
    if not any(earlier.status != PASS and isinstance(found.get(earlier.name), np.ndarray) for earlier in upstream):
        return step  # no wrong value before it to carry: the grade compares it with the expected value too
    explained = bool(matched) and all(earlier.status == PASS for earlier in upstream[1:])
    chains = [mistake.values.get(step.name) for mistake in matched]
    if explained and all(chain is not None for chain in chains):
        if all(_as_known(value, chain, step.name, rubric, exception) and _could_fail(chain, step.name, rubric, case, found)
               for chain in chains):
            return dataclasses.replace(
                step, status=PASS, score=step.max_score * rubric.carried_forward_credit, cases_passed=step.cases_total,
                carried_forward=True,
                message=(f"right given your {first} on the public case (error carried forward): grading checks "
                         "it on the hidden cases too"))
        if not any(_as_known(value, chain, step.name, rubric, exception) for chain in chains):
            return dataclasses.replace(step, message=f"wrong even given your {first}: {step.message}")
    return dataclasses.replace(
        step, status=PENDING, score=0.0, cases_passed=0,
        message=(f"differs from the expected value, maybe only because {first} is wrong: whether it is right given "
                 f"your {first} can only be judged at grading time"))


def _could_fail(carried: np.ndarray, name: str, rubric: Rubric, case: Case, found: Mapping[str, Any]) -> bool:
    """Whether matching the carried value could have failed here, as far as one case shows (the grade's earned rule).

    Not when the carried value is degenerate, a wrong earlier value is off the scale of the right one,
    or the carried value is an input or another step's value handed back. The grade asks more (over
    every case); a match that fails these is left to grading, never called carried.
    """
    tolerance = rubric.tolerance
    if earned.degenerate(carried, tolerance):
        return False
    names = rubric.step_names[: rubric.step_names.index(name)]
    wrong = [earlier for earlier in names if isinstance(found.get(earlier), np.ndarray)
             and not _same(found[earlier], case.expected[earlier], rubric)]
    if not all(earned.comparable(found[earlier], case.expected[earlier], tolerance) for earlier in wrong):
        return False
    others = [np.asarray(value, dtype=np.float64) for value in case.arguments.values()]
    others += [found[other] for other in names if isinstance(found.get(other), np.ndarray)]
    others += [case.expected[other] for other in rubric.step_names if other != name]
    return not earned.recycled(carried, others, tolerance)


def _lacks_only_its_own_value(steps: Sequence[StepResult], position: int, short: set[int]) -> bool:
    """Whether every step before this one has its value: the exception came while computing this one."""
    return all(step.status == PASS or index in short for index, step in enumerate(steps[:position]))


def _raised_at(rubric: Rubric, step: str) -> str:
    return (f"First wrong step: {step}. {rubric.function}() raised an exception on the public case after every "
            f"step before {step} had its value: the exception below most likely comes from your code for {step}.")


def document(grade: Grade) -> dict:
    """The submission object of `grade --json` for a self-check: what only grading decides is null."""
    entry = grade_document(grade)
    entry["score"] = None
    entry["score_at_most"] = grade.score if grade.status == GRADED else 0.0
    for step, result in zip(entry["steps"], grade.steps):
        if result.status in (PASS, PENDING):
            step["score"] = None
    return entry
