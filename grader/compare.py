"""Comparing one value with its expected value, in a fixed order of checks.

missing -> type -> shape -> finite -> tolerance. Every failure says what is wrong in words
and, for values, how far off: "2 / 6 elements differ, max abs diff 0.0012 at index (1, 0)".
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from grader.models import Tolerance

OK, MISSING, TYPE, SHAPE, TRANSPOSED, NONFINITE, VALUES = "ok", "missing", "type", "shape", "transposed", "nonfinite", "values"


@dataclass(frozen=True)
class Check:
    """The outcome of comparing one value on one case."""

    kind: str
    """ok, or the first check that failed: missing, type, shape, transposed, nonfinite, values."""
    detail: str
    """What is wrong, in words; empty when ok."""

    @property
    def ok(self) -> bool:
        return self.kind == OK


PASSED = Check(OK, "")


def close(got: np.ndarray, expected: np.ndarray, tolerance: Tolerance) -> np.ndarray:
    """Element-wise closeness of two arrays of the same shape."""
    return np.abs(got - expected) <= tolerance.atol + tolerance.rtol * np.abs(expected)


def check(got: np.ndarray | str | None, expected: np.ndarray, tolerance: Tolerance, *, explain: bool = True) -> Check:
    """Compare a decoded student value with the expected float64 array.

    `explain=False` leaves out the numbers of a value difference (where and how far), which
    only the public case reports and which cost more than the check itself.
    """
    if got is None:
        return Check(MISSING, "has no value")
    if isinstance(got, str):
        return Check(TYPE, f"is an {got}" if got.startswith("unsupported") else f"could not be read: {got}")
    if got.shape != expected.shape:
        if got.size == expected.size == 1:
            got = got.reshape(expected.shape)
        else:
            return _shape_problem(got, expected, tolerance)
    finite = np.isfinite(got)
    if not finite.all():
        bad = int((~finite).sum())
        return Check(NONFINITE, f"has {bad} of {got.size} elements that are NaN or infinite")
    good = close(got, expected, tolerance)
    if good.all():
        return PASSED
    if got.ndim == 2 and got.shape[0] == got.shape[1] and close(got.T, expected, tolerance).all():
        return Check(TRANSPOSED, "holds the transpose of the expected matrix (rows and columns swapped)")
    return Check(VALUES, _difference(got, expected, good, tolerance) if explain else "values differ")


def _shape_problem(got: np.ndarray, expected: np.ndarray, tolerance: Tolerance) -> Check:
    said = f"has shape {_shape(got.shape)} but should have shape {_shape(expected.shape)}"
    if got.ndim == 2 and expected.ndim == 2 and got.shape == expected.shape[::-1]:
        if close(got.T, expected, tolerance).all():
            return Check(TRANSPOSED, f"{said}: it is the transpose of the expected matrix")
        return Check(TRANSPOSED, f"{said}: its rows and columns are swapped")
    if got.size == expected.size:
        right = close(got.reshape(expected.shape), expected, tolerance).all()
        if expected.ndim == 0:
            extra = "a single number inside an array; it should be a plain number (a scalar)"
        elif got.ndim > expected.ndim:
            extra = "an extra axis of length 1 (a column or row where a flat vector is expected)"
        else:
            extra = "an axis too few"
        return Check(SHAPE, f"{said}: it has {extra}" + ("; the numbers themselves are right" if right else ""))
    if expected.ndim == 0 and got.ndim >= 1:
        return Check(SHAPE, f"{said}: a vector where a single number is expected")
    if expected.ndim == 1 and got.ndim == 0:
        return Check(SHAPE, f"{said}: a single number where one value per unit is expected")
    if expected.ndim == 2 and got.ndim == 1:
        return Check(SHAPE, f"{said}: a vector where a matrix (one row per input, one column per unit) is expected")
    return Check(SHAPE, said)


def _difference(got: np.ndarray, expected: np.ndarray, good: np.ndarray, tolerance: Tolerance) -> str:
    diff = np.abs(got - expected)
    flipped = bool(np.any(expected != 0) and close(-got, expected, tolerance).all())
    sign = "; it has the opposite sign of the expected value" if flipped else ""
    if got.ndim == 0:
        return f"differs from the expected value by {float(diff):.3g}{sign}"
    worst = np.unravel_index(int(np.argmax(np.where(good, -1.0, diff))), diff.shape)
    bad = int((~good).sum())
    return f"{bad} / {got.size} elements differ, max abs diff {float(diff[worst]):.3g} at index {_index(worst)}{sign}"


def _shape(shape: tuple) -> str:
    return "()" if not shape else ("(" + ", ".join(str(n) for n in shape) + ("," if len(shape) == 1 else "") + ")")


def _index(index: tuple) -> str:
    return str(int(index[0])) if len(index) == 1 else "(" + ", ".join(str(int(i)) for i in index) + ")"


def format_value(value: np.ndarray | str | None) -> str:
    """A compact, readable rendering of a value for feedback."""
    if value is None:
        return "None"
    if isinstance(value, str):
        return value
    return np.array2string(value, precision=8, separator=", ", max_line_width=100, threshold=40)
