"""Evaluating a step's formula on one case, the way error carried forward and the mistake catalogue both need it.

A formula (a step's expression in the reference, a catalogue entry, a rubric's `carried`) sees:
the graded function's arguments as passed; every local of the reference function at that point
(its locals at return for a step captured once, at the end of the same iteration for a step
captured per iteration: loop variables, `n_records`, ...), taken from the reference's own run on
the case; the student's values of the earlier steps (the reference's where the student has none);
and, under the step's own name, the step's earlier value: the student's value at the end of the
previous iteration when the reference carries the value on from one iteration to the next, else the
reference's value when the iteration began (`del_w = np.zeros(...)` before the loop, or a reset).
A step captured per iteration is evaluated once per iteration, the results stacked along a first axis.
Runs in the grader's process on decoded float64 arrays and the reference's own objects only.
"""

from __future__ import annotations

import types
from collections.abc import Mapping
from typing import Any

import numpy as np

from grader.models import Case, Step


def evaluate(code: types.CodeType, namespace: dict, steps: tuple[Step, ...], case: Case, found: Mapping[str, Any],
             step: str, *, chained: bool = False) -> np.ndarray | None:
    """The formula's value for `step` on `case`; None when it raises (shapes that do not fit it) or there is no run.

    `found` holds the student's values by step name (per-iteration steps stacked); `chained` makes
    the step's earlier value the formula's own previous result rather than the student's (to carry a
    mistake through to later steps).
    """
    run = case.run
    if run is None:
        return None
    per_iteration, earlier_of = _layout(steps)
    earlier = earlier_of[step]
    arguments = {name: value.copy() if isinstance(value, np.ndarray) else value for name, value in case.arguments.items()}
    try:
        with np.errstate(all="ignore"):
            if not per_iteration[step]:
                scope = {**run.final, **arguments}
                scope.update({name: _own(found, case, name, per_iteration[name], -1) for name in earlier})
                return np.asarray(eval(code, namespace, scope), dtype=np.float64)
            scopes, before = run.iterations[step], run.before[step]
            expected = case.expected[step]
            own = found.get(step)
            own_rows = _rows(own, expected)
            rows: list[np.ndarray] = []
            for index, local in enumerate(scopes):
                scope = {**arguments, **local}
                for name in earlier:
                    if not per_iteration[name]:
                        scope[name] = _own(found, case, name, False, -1)
                    elif case.expected[name].shape[0] == len(scopes):
                        scope[name] = _own(found, case, name, True, index)
                    # An iteration step of another loop: the reference's own local at this point stays.
                continues = index > 0 and _identical(before[index], expected[index - 1])
                if continues and chained:
                    scope[step] = rows[index - 1]
                elif continues and own_rows:
                    scope[step] = own[index - 1]
                else:
                    scope[step] = before[index]
                rows.append(np.asarray(eval(code, namespace, scope), dtype=np.float64))
            if len({row.shape for row in rows}) != 1:
                return None
            return np.stack(rows)
    except Exception:  # the student's shapes may not fit the formula at all
        return None


# id(steps) -> (those steps, their layout); the steps are kept so that their id cannot be reused while listed here.
_layouts: dict[int, tuple[tuple[Step, ...], tuple[dict[str, bool], dict[str, tuple[str, ...]]]]] = {}


def _layout(steps: tuple[Step, ...]) -> tuple[dict[str, bool], dict[str, tuple[str, ...]]]:
    """Whether each step is per iteration, and the steps before each: asked on every evaluation, computed once.

    Found by the tuple's identity (a rubric's steps are one tuple for the whole run): hashing the steps for a
    cache key, each a dataclass hashed field by field, was a tenth of an evaluation.
    """
    found = _layouts.get(id(steps))
    if found is not None and found[0] is steps:
        return found[1]
    names = tuple(item.name for item in steps)
    layout = ({item.name: item.per_iteration for item in steps},
              {name: names[:position] for position, name in enumerate(names)})
    if len(_layouts) >= 64:
        _layouts.clear()
    _layouts[id(steps)] = (steps, layout)
    return layout


def _rows(value: Any, expected: np.ndarray) -> bool:
    """Whether a per-iteration value has one row per iteration of the reference's."""
    return isinstance(value, np.ndarray) and value.ndim >= 1 and value.shape[0] == expected.shape[0]


def _own(found: Mapping[str, Any], case: Case, name: str, per_iteration: bool, row: int) -> Any:
    """The student's value of an earlier step (one row of it when per iteration), else the reference's."""
    value, expected = found.get(name), case.expected[name]
    if not per_iteration:
        return value if isinstance(value, np.ndarray) else expected
    return value[row] if _rows(value, expected) else expected[row]


def _identical(first: Any, second: np.ndarray) -> bool:
    try:
        return first is not None and bool(np.array_equal(np.asarray(first, dtype=np.float64), second))
    except (TypeError, ValueError):
        return False
