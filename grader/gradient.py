"""An independent check of the returned values: the oracle's gradient-descent step on every case.

The oracle is instructor code (a Python file of the solutions folder, named by the rubric's
[feedback] table) defining `LOSS`, the loss in words, and `deltas(reference, inputs)`, the
value each returned step should have, computed without the reference's formulas (for
backward_pass: finite differences of the loss). It is checked once against the reference on
every case; then a student whose returned values point uphill, or are the right ones times a
constant factor, is told so in words that reveal no case's values.
"""

from __future__ import annotations

import types
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from grader import compare, earned
from grader.assignment import Assignment, Rubric, load_module
from grader.errors import ConfigError, InternalError
from grader.models import FAIL, Case, StepResult, Tolerance


@dataclass(frozen=True)
class Oracle:
    """The oracle's values of the returned steps, computed once per run."""

    loss: str
    """The loss the oracle differentiates, as the student knows it."""
    values: tuple[dict[str, np.ndarray], ...]
    """Per case, in the order of the cases, the oracle's value of each returned step."""


def load(assignment: Assignment, cases: Sequence[Case]) -> Oracle:
    """Run the rubric's oracle on every case; InternalError when it disagrees with the reference."""
    rubric = assignment.rubric
    path = assignment.directory / str(rubric.oracle)
    module = load_module(path, "oracle")
    if not callable(getattr(module, "deltas", None)) or not isinstance(getattr(module, "LOSS", None), str):
        raise ConfigError(f"oracle {path} must define LOSS (text) and deltas(reference, inputs)")
    facade = types.SimpleNamespace(**assignment.reference.namespace)
    values = []
    for case in cases:
        try:
            raw = module.deltas(facade, case.inputs)
            computed = {name: np.asarray(raw[name], dtype=np.float64) for name in rubric.returns}
        except Exception as error:
            raise InternalError(f"oracle {path} fails on case {case.name}: {error!r}") from None
        for name, value in computed.items():
            if not compare.check(value, case.expected[name], rubric.tolerance).ok:
                raise InternalError(f"oracle {path} and the reference disagree on {name} in case {case.name}")
        values.append(computed)
    return Oracle(module.LOSS, tuple(values))


def advice(oracle: Oracle, rubric: Rubric, values: Sequence[Mapping[str, Any]], results: Sequence[StepResult]) -> list[str]:
    """Sentences about returned steps that are wrong, or right only given wrong earlier steps."""
    grouped: dict[str, list[str]] = {}
    for result in results:
        if result.name in rubric.returns and (result.status == FAIL or result.carried_forward):
            pairs = [(found.get(result.name), oracle.values[index][result.name]) for index, found in enumerate(values)]
            verdict = _verdict(pairs, rubric.tolerance)
            if verdict:
                grouped.setdefault(verdict, []).append(result.name)
    return [f"Gradient check (finite differences of {oracle.loss}): your {' and '.join(names)} "
            f"{'is' if len(names) == 1 else 'are'} {verdict}." for verdict, names in grouped.items()]


def _verdict(pairs: Sequence[tuple[Any, np.ndarray]], tolerance: Tolerance) -> str | None:
    """What a student's values are, compared with the gradient-descent step, if it is simple to say."""
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
    constant = abs(scale) > tolerance.rtol and all(compare.close(got, scale * step, tolerance).all() for got, step in usable)
    if constant and abs(scale + 1) <= tolerance.rtol:
        return f"exactly the opposite of the gradient-descent step {cases}: the weights would move uphill and the loss grow"
    if constant and abs(scale - 1) > tolerance.rtol:
        uphill = " and in the opposite direction, uphill" if scale < 0 else ""
        return f"{abs(scale):.3g} times the gradient-descent step{uphill} {cases}: look for a constant factor"
    if all(float(np.vdot(got, step)) < 0 for got, step in informative):
        return f"pointing uphill {cases} (against the gradient-descent step): the loss would grow"
    return None
