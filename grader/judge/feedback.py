"""Feedback beyond right and wrong: named misconceptions, the gradient check, a swapped return.

The first two come from the solutions folder when its rubric names them in a [feedback]
table; the swapped return needs only the expected values, so the student's self-check has it
too. See docs/feedback.md.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from grader import compare
from grader.assignment import Assignment, Catalogue, Rubric
from grader.assignment import catalogue as catalogue_file
from grader.assignment import oracle as oracle_file
from grader.assignment.oracle import Oracle
from grader.judge import diagnosis, earned, gradient, wording
from grader.judge.evidence import StudentRun
from grader.judge.source import SourceFacts
from grader.judge.verdicts import Verdict
from grader.models import FAIL, Case, Diagnosis, StepResult

SWAPPED_RETURN = "returned_pair_swapped"
CHANGED_IN_PLACE = "argument_changed_in_place"


@dataclass(frozen=True)
class Feedback:
    """What an assignment's solutions folder offers for feedback, loaded once per run."""

    catalogue: Catalogue | None
    oracle: Oracle | None


def load(assignment: Assignment, cases: Sequence[Case]) -> Feedback:
    """The catalogue and the oracle named by the rubric, each optional."""
    layout = assignment.layout
    catalogue = (catalogue_file.load(layout.directory / layout.misconceptions, assignment.rubric, assignment.reference)
                 if layout.misconceptions else None)
    return Feedback(catalogue, oracle_file.load(assignment, cases) if layout.oracle else None)


def review(feedback: Feedback | None, rubric: Rubric, cases: Sequence[Case], values: Sequence[Mapping[str, Any]],
           results: Sequence[StepResult], verdicts: Mapping[str, Sequence[Verdict]]
           ) -> tuple[tuple[Diagnosis, ...], list[str]]:
    """Diagnoses of the failing steps, and sentences from the gradient check.

    `values` holds the student's decoded step values per case that ran, `verdicts` each step's
    verdict per case that ran (`verdicts.Verdicts.table`).
    """
    diagnoses = list(_swapped_return(rubric, cases, values, results))
    advice: list[str] = []
    if feedback and feedback.catalogue:
        wrong = {result.name: [index for index, verdict in enumerate(verdicts[result.name]) if not verdict.ok]
                 for result in results if result.status == FAIL}
        diagnoses += diagnosis.diagnose(feedback.catalogue, rubric, cases, values, wrong)
    if feedback and feedback.oracle:
        advice = gradient.advice(feedback.oracle, rubric, values, results)
    return tuple(diagnoses), advice


def _swapped_return(rubric: Rubric, cases: Sequence[Case], values: Sequence[Mapping[str, Any]],
                    results: Sequence[StepResult]) -> list[Diagnosis]:
    """A pair returned in the wrong order: each returned value is the other one's expected value, on every case.

    Claimed only when some case tells the orders apart: a returned value there is not degenerate,
    and the two expected values differ.
    """
    if len(rubric.returns) != 2 or not any(r.status == FAIL for r in results if r.name in rubric.returns):
        return []
    first, second = rubric.returns
    compared = [(found.get(first), found.get(second), (case.expected[first], case.expected[second]))
                for case, found in zip(cases, values) if first in found and second in found]
    if not compared or not all(compare.swapped_pair(*entry, rubric.tolerance) for entry in compared):
        return []
    # Values from which nothing can be read (zeros, tiny numbers, one number repeated) match any order.
    if not any(not (earned.degenerate(got_first, rubric.tolerance) and earned.degenerate(got_second, rubric.tolerance))
               and not earned.same(*expected, rubric.tolerance) for got_first, got_second, expected in compared):
        return []
    message = (f"Your function returns its two values in the wrong order: the first value it returns is what "
               f"{second} should be, and the second is what {first} should be. "
               f"Hint: whoever calls {rubric.function}() unpacks its result as ({first}, {second}).")
    return [Diagnosis(first, SWAPPED_RETURN, message)]


def changed_in_place(rubric: Rubric, run: StudentRun, results: Sequence[StepResult],
                     source: SourceFacts, diagnoses: Sequence[Diagnosis]) -> tuple[Diagnosis, ...]:
    """The diagnoses, with an argument changed in place named at each failing step computed from it afterwards.

    Claimed where the run shows the argument changed (on some case) and the source shows the
    step's assignment reading it after the change (`judge.source`); a step that already has a
    diagnosis keeps that one, which the values themselves matched.
    """
    changed = {name for case in run.cases for name in case.mutated}
    named = {diagnosis.step for diagnosis in diagnoses}
    found = list(diagnoses)
    for result in results:
        if result.status != FAIL or result.name in named or not changed:
            continue
        cause = next((change for change in source.changed_before.get(result.name, ())
                      if change.parameter in changed and change.parameter not in rubric.updates), None)
        if cause is not None:
            found.append(Diagnosis(result.name, CHANGED_IN_PLACE,
                                   wording.changed_in_place(result.name, cause.written, cause.cell, cause.line)))
    order = {name: position for position, name in enumerate(rubric.step_names)}
    return tuple(sorted(found, key=lambda diagnosis: order.get(diagnosis.step, len(order))))
