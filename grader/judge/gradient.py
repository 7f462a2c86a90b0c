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

import types
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from grader.assignment import Assignment, Rubric, load_module
from grader.errors import ConfigError, InternalError
from grader.judge import compare, earned
from grader.models import FAIL, Case, StepResult, Tolerance


@dataclass(frozen=True)
class Oracle:
    """The oracle's values of the returned steps, computed once per run."""

    name: str
    """The check as the student knows it, opening each sentence."""
    what: str
    """What the returned values are ("the gradient-descent step")."""
    directional: bool
    """Whether the values are a step whose direction means something (uphill, opposite)."""
    values: tuple[dict[str, np.ndarray], ...]
    """Per case, in the order of the cases, the oracle's value of each returned step."""


def load(assignment: Assignment, cases: Sequence[Case]) -> Oracle:
    """Run the rubric's oracle on every case; InternalError when it disagrees with the reference."""
    rubric = assignment.rubric
    path = assignment.directory / str(rubric.oracle)
    module = load_module(path, "oracle")
    texts = [getattr(module, key, None) for key in ("NAME", "WHAT")]
    directional = getattr(module, "DIRECTIONAL", False)
    if (not callable(getattr(module, "values", None)) or not all(isinstance(text, str) and text for text in texts)
            or not isinstance(directional, bool)):
        raise ConfigError(f"oracle {path} must define NAME and WHAT (text), values(reference, inputs), "
                          "and optionally DIRECTIONAL (True or False)")
    facade = types.SimpleNamespace(**assignment.reference.namespace)
    values = []
    for case in cases:
        try:
            raw = module.values(facade, case.inputs)
            computed = {name: np.asarray(raw[name], dtype=np.float64) for name in rubric.returns}
        except Exception as error:
            raise InternalError(f"oracle {path} fails on case {case.name}: {error!r}") from None
        for name, value in computed.items():
            if not compare.check(value, case.expected[name], rubric.tolerance).ok:
                raise InternalError(f"oracle {path} and the reference disagree on {name} in case {case.name}")
        values.append(computed)
    return Oracle(texts[0], texts[1], directional, tuple(values))


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
    constant = abs(scale) > tolerance.rtol and all(compare.close(got, scale * step, tolerance).all() for got, step in usable)
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
