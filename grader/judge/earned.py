"""When a match means something: a credit or a named mistake counts only where the check could have failed.

A value within tolerance of an expected value proves nothing when the tolerance would have
accepted any value of that size: every number below `atol` "matches" every other one. These
predicates tell the judgements that could have failed from those that could not. They are
shared by error carried forward (verdicts), the misconception catalogue (diagnosis), the
swapped-return diagnosis (feedback) and the gradient check (gradient); the rules they serve
are set out in docs/feedback.md ("Earned credit").
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from grader import compare
from grader.models import Tolerance

# A value is informative when the absolute tolerance is at most this fraction of its largest
# element: a wrong value of the same size then fails its check.
MARGIN = 10.0
# Below this (the square root of the smallest normal float64) a product of two values underflows:
# whatever the tolerance, such numbers carry no digits to compare.
FLOOR = float(np.sqrt(np.finfo(np.float64).tiny))
# A wrong value further than this factor from the size of the value it stands for is not a mistake
# in a formula but a value chosen for its size: it carries no credit to the steps computed from it.
SCALE_RANGE = 1e6
# The factor applied to the upstream values to see whether a carried value depends on them
# (exact in binary, so the perturbation is the same on every machine).
PERTURBATION = 1.25


def peak(value: np.ndarray) -> float:
    """The largest magnitude of a finite, non-empty array (0 otherwise)."""
    if value.size == 0:
        return 0.0
    # One reduction: a NaN or an infinity anywhere makes the maximum NaN or infinite. One number is read as a
    # float: `np.abs` of a 0-d array is a numpy scalar, whose own `max` is five times the cost (a third of the
    # calls on wrong values judged afresh); its magnitude is the same float.
    largest = abs(float(value.reshape(-1)[0])) if value.size == 1 else float(np.abs(value).max())
    return largest if math.isfinite(largest) else 0.0


def informative(value: object, tolerance: Tolerance) -> bool:
    """Whether a check against this value could fail: finite, non-empty, well above the absolute tolerance."""
    if not isinstance(value, np.ndarray):
        return False
    return peak(value) > max(MARGIN * tolerance.atol, FLOOR)


def constant(value: np.ndarray, tolerance: Tolerance) -> bool:
    """Whether an array of two or more elements holds one number everywhere (a shape-only value)."""
    if value.size < 2:
        return False
    flat = value.ravel()
    return compare.all_close(flat, np.full_like(flat, flat[0]), tolerance)


def degenerate(value: object, tolerance: Tolerance) -> bool:
    """Zeros, tiny or non-finite values, or one number repeated: nothing a formula computed can be read from it."""
    return not isinstance(value, np.ndarray) or not informative(value, tolerance) or constant(value, tolerance)


def comparable(got: np.ndarray, expected: np.ndarray, tolerance: Tolerance) -> bool:
    """Whether a wrong value is on the scale of the right one (within SCALE_RANGE either way).

    Sizes under the informative threshold count as that threshold: two negligible values are alike.
    """
    floor = max(MARGIN * tolerance.atol, FLOOR)
    low, high = sorted((max(peak(got), floor), max(peak(expected), floor)))
    return bool(np.isfinite(got).all()) and high <= SCALE_RANGE * low


def same(first: np.ndarray, second: np.ndarray, tolerance: Tolerance) -> bool:
    """Equal within tolerance, a single number standing for an array of that number."""
    if first.shape != second.shape and first.size != 1 and second.size != 1:
        return False
    if first.size and second.size:
        # One element first: most pairs asked about differ there, and a scalar test costs far less than an array's.
        one, other = float(first.flat[0]), float(second.flat[0])
        if not abs(one - other) <= tolerance.atol + tolerance.rtol * abs(other):
            return False
    if first.shape != second.shape:
        if first.size == 1:
            first = np.full(second.shape, first.ravel()[0])
        elif second.size == 1:
            second = np.full(first.shape, second.ravel()[0])
        else:
            return False
    return compare.all_close(first, second, tolerance)


def recycled(value: np.ndarray, others: Sequence[object], tolerance: Tolerance) -> bool:
    """Whether `value` is one of `others` (an input, another step's value) or all ones: nothing was computed.

    A vector counts also when repeated along the rows or the columns of a matrix value.
    """
    if same(np.ones_like(value), value, tolerance):
        return True
    first = float(value.flat[0]) if value.size else None
    near_first = tolerance.atol + tolerance.rtol * abs(first) if first is not None else 0.0
    for other in others:
        if isinstance(other, np.ndarray):
            other = np.asarray(other, dtype=np.float64)
            if same(other, value, tolerance):
                return True
            # A repeated vector starts with its own first element: when that already differs from the
            # value's, `same` would refuse each layout at its first test, so none is built.
            if first is not None and other.size and not abs(float(other.flat[0]) - first) <= near_first:
                continue
            if any(same(layout, value, tolerance) for layout in _repeated(other, value.shape)):
                return True
    return False


def _repeated(other: np.ndarray, shape: tuple[int, ...]) -> list[np.ndarray]:
    """A vector repeated to fill a matrix of `shape` along either axis (none when it does not fit)."""
    layouts = []
    if other.ndim == 1 and len(shape) == 2 and other.size > 1:
        if shape[0] == other.size:
            layouts.append(np.broadcast_to(other[:, None], shape))
        if shape[1] == other.size:
            layouts.append(np.broadcast_to(other[None, :], shape))
    return layouts


def varies(values: Sequence[np.ndarray], tolerance: Tolerance) -> bool:
    """Whether values from different cases differ: a step that gives one number on every case computed nothing.

    A single value cannot show it, and counts as varying.
    """
    if len(values) < 2:
        return True
    first = values[0].ravel()[:1]
    if first.size == 0:
        return False
    if any(value.size == 0 for value in values):
        return True
    # Every element of every value against the first number, in one comparison (`same`, laid end to end).
    flat = np.concatenate([value.ravel() for value in values])
    return not compare.all_close(flat, np.full(flat.shape, first[0]), tolerance)


def input_dependent(values: Sequence[object], tolerance: Tolerance) -> bool:
    """Whether a step's values (one per case) change with the inputs' values, not only with their shapes.

    Values equal on every case of one shape (`1.0`, `np.ones_like(...)`, `np.arange(n)`) were
    computed from nothing. Cases are grouped by the value's shape; a group of two or more whose
    values all agree shows it. Without such a group, one number throughout shows it too.
    """
    arrays = [value for value in values if isinstance(value, np.ndarray) and value.size]
    groups: dict[tuple[int, ...], list[np.ndarray]] = {}
    for value in arrays:
        groups.setdefault(value.shape, []).append(value)
    for members in groups.values():
        if len(members) >= 2 and all(same(member, members[0], tolerance) for member in members[1:]):
            return False
    return varies(arrays, tolerance)
