"""Recognising code that hard-codes the demo's sizes, from the per-case verdicts alone.

Code written for the demo (`np.zeros(2)`, `range(2)`, `.reshape(2, 1)`) is right on every case
whose arguments have the demo's sizes where the code fixed them, and wrong on every other. The
sizes it fixed are read off the cases it is right on: each argument axis whose size is the
public case's on all of them (or at most the public case's: code that slices to the demo's
size). The pattern holds when those sizes pick out exactly the cases the step is right on, a
hidden case among them (the public case alone proves nothing), and some case is wrong.
Nothing of the student's source is read.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from grader.models import Case


def conditions(cases: Sequence[Case], right: Sequence[bool]) -> list[str] | None:
    """The demo's sizes, as code (`len(x) == 3`), that the step is right exactly on; None without the pattern."""
    public = next((index for index, case in enumerate(cases) if case.public), None)
    if public is None or not right[public] or all(right) or not any(right):
        return None
    if not any(ok and not case.public for case, ok in zip(cases, right)):
        return None
    sizes = [(name, axis, size) for name, value in cases[public].arguments.items()
             for axis, size in enumerate(np.shape(value))]
    rights = [case for case, ok in zip(cases, right) if ok]
    # Code written for the demo's size is right at that size; code that slices to it (`h[:2]`) below it too.
    equal = [(name, axis, size, "==") for name, axis, size in sizes
             if all(_size(case, name, axis) == size for case in rights)]
    at_most = [(name, axis, size, "<=") for name, axis, size in sizes
               if all(0 <= _size(case, name, axis) <= size for case in rights)
               and (name, axis, size, "==") not in equal]
    for fixed in (equal, equal + at_most):
        if fixed and all(all(_fits(case, condition) for condition in fixed) == ok for case, ok in zip(cases, right)):
            return [f"{'len(' + name + ')' if axis == 0 else f'{name}.shape[{axis}]'} {operator} {size}"
                    for name, axis, size, operator in fixed]
    return None


def _size(case: Case, name: str, axis: int) -> int:
    """The size of an argument along an axis on this case, -1 when it has no such axis."""
    shape = np.shape(case.arguments.get(name))
    return shape[axis] if len(shape) > axis else -1


def _fits(case: Case, condition: tuple[str, int, int, str]) -> bool:
    name, axis, size, operator = condition
    found = _size(case, name, axis)
    return found == size if operator == "==" else 0 <= found <= size
