"""An independent check of the returned values: the oracle's values on every case.

The oracle is instructor code (a Python file of the solutions folder, named by the rubric's
[feedback] table) defining `values(reference, inputs)`, the value each returned step should
have, computed without the reference's formulas (for backward_pass: finite differences of the
loss), and the words the sentences use: `NAME`, the check as the student knows it ("Gradient
check (finite differences of E = ½(target − output)²)"), `WHAT`, what the returned values are
("the gradient-descent step"), and optionally `DIRECTIONAL = True` when the values are a step
whose direction means something ("opposite", "uphill"). It is checked once against the
reference on every case; then a student whose returned values are the right ones times a
constant factor (or, for a step, point uphill) is told so in words that reveal no case's values.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from grader import compare
from grader.assignment import Rubric
from grader.assignment.oracle import Oracle
from grader.judge import earned
from grader.models import FAIL, StepResult, Tolerance


def advice(oracle: Oracle, rubric: Rubric, values: Sequence[Mapping[str, Any]], results: Sequence[StepResult]) -> list[str]:
    """Sentences about returned steps that are wrong, or right only given wrong earlier steps."""
    grouped: dict[str, list[str]] = {}
    for result in results:
        if result.name in rubric.returns and (result.status == FAIL or result.carried_forward):
            pairs = [(found.get(result.name), oracle.values[index][result.name]) for index, found in enumerate(values)]
            verdict = _verdict(pairs, rubric.tolerance, oracle.what, oracle.directional)
            if verdict:
                grouped.setdefault(verdict, []).append(result.name)
    return [f"{oracle.name}: your {' and '.join(names)} "
            f"{'is' if len(names) == 1 else 'are'} {verdict}." for verdict, names in grouped.items()]


def _verdict(pairs: Sequence[tuple[Any, np.ndarray]], tolerance: Tolerance, what: str, directional: bool) -> str | None:
    """What a student's values are, compared with the oracle's, if it is simple to say."""
    usable = [(got, step) for got, step in pairs
              if isinstance(got, np.ndarray) and got.shape == step.shape and np.isfinite(got).all()]
    # A saturated case has a gradient of (nearly) zero, which has no direction to compare with; and
    # values from which nothing can be read (zeros, tiny numbers, one number repeated, on every case
    # the same) point nowhere: no advice is drawn from them, nor from a few cases among many such.
    informative = [(got, step) for got, step in usable
                   if np.abs(step).max() > tolerance.atol and not earned.degenerate(got, tolerance)]
    if (not informative or 2 * len(informative) < len(usable)
            or not earned.varies([got for got, _ in informative], tolerance)):
        return None
    cases = f"on all {len(usable)} cases compared"
    # The least-squares factor over all cases: exact when the student's values are c times the step.
    scale = (sum(float(np.vdot(got, step)) for got, step in informative)
             / sum(float(np.vdot(step, step)) for _, step in informative))
    constant = abs(scale) > tolerance.rtol and all(compare.all_close(got, scale * step, tolerance) for got, step in usable)
    if not directional:
        if constant and abs(scale - 1) > tolerance.rtol:
            return f"{scale:.3g} times {what} {cases}: look for a constant factor"
        return None
    if constant and abs(scale + 1) <= tolerance.rtol:
        return f"exactly the opposite of {what} {cases}: the weights would move uphill and the loss grow"
    if constant and abs(scale - 1) > tolerance.rtol:
        uphill = " and in the opposite direction, uphill" if scale < 0 else ""
        return f"{abs(scale):.3g} times {what}{uphill} {cases}: look for a constant factor"
    if all(float(np.vdot(got, step)) < 0 for got, step in informative):
        return f"pointing uphill {cases} (against {what}): the loss would grow"
    return None
