"""The oracle: instructor code computing the returned values independently of the reference's formulas.

A Python file of the assignment folder, named by the rubric's [feedback] table, defining
`values(reference, inputs)`, `NAME`, `WHAT` and optionally `DIRECTIONAL` (grader/gradient.py
says what they mean to the student). It runs once per run on every case and must agree with
the reference on each.
"""

from __future__ import annotations

import types
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from grader import compare
from grader.assignment.loader import Assignment
from grader.assignment.modules import load_module
from grader.errors import ConfigError, InternalError
from grader.models import Case


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
    path = assignment.directory / str(assignment.layout.oracle)
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
