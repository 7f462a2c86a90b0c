"""Comparing one value with its expected value, in a fixed order of checks.

missing -> type -> shape -> finite -> tolerance. Every failure says what is wrong in words
and, for values, how far off: "2 / 6 elements differ, max abs diff 0.0012 at index (1, 0)".
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from grader.models import Tolerance, Words

# The reason given for a value that was computed but never returned (the function raised after it).
NOT_RETURNED = "was computed but never returned"
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
    """Element-wise closeness of two arrays of the same shape; nothing is close to a non-finite expected value."""
    return (np.abs(got - expected) <= tolerance.atol + tolerance.rtol * np.abs(expected)) & np.isfinite(expected)


# Up to this many elements, `all_close` compares number by number: nearly every value judged is a handful of
# numbers, where numpy's cost per call (seven of them in `close`, then `all`) is most of the work.
_FEW = 64


def all_close(got: np.ndarray, expected: np.ndarray, tolerance: Tolerance) -> bool:
    """`close(got, expected, tolerance).all()`, the same answer: each number's test is the same IEEE arithmetic
    in the same order (Python's floats are float64), stopping at the first that is not close. Silent either way:
    an overflow or an infinity minus itself is simply not close."""
    if got.shape != expected.shape or got.size > _FEW:
        with np.errstate(all="ignore"):
            return bool(close(got, expected, tolerance).all())
    atol, rtol = tolerance.atol, tolerance.rtol
    for value, wanted in zip(got.ravel().tolist(), expected.ravel().tolist()):
        if not (abs(value - wanted) <= atol + rtol * abs(wanted) and math.isfinite(wanted)):
            return False
    return True


def check(got: np.ndarray | str | None, expected: np.ndarray, tolerance: Tolerance, *, explain: bool = True,
          words: Words | None = None) -> Check:
    """Compare a decoded student value with the expected float64 array.

    `explain=False` leaves out the numbers of a value difference (where and how far), which
    only the public case reports and which cost more than the check itself. `words` (the rubric's
    `Words`: unit, row, column) names what a vector's elements and a matrix's rows and columns stand
    for in shape messages; without it they are neutral.
    """
    if got is None:
        return Check(MISSING, "has no value")
    if isinstance(got, str):
        if got.startswith(NOT_RETURNED):
            return Check(TYPE, got)
        return Check(TYPE, f"is an {got}" if got.startswith("unsupported") else f"could not be read: {got}")
    if got.shape != expected.shape:
        if got.size == expected.size == 1:
            got = got.reshape(expected.shape)
        else:
            return _shape_problem(got, expected, tolerance, words)
    # Close to a finite value is finite: a value that passes needs no test of its own for NaN or infinity.
    if all_close(got, expected, tolerance):
        return PASSED
    finite = np.isfinite(got)
    if not finite.all():
        bad = int((~finite).sum())
        return Check(NONFINITE, f"has {bad} of {got.size} elements that are NaN or infinite")
    if got.ndim == 2 and got.shape[0] == got.shape[1] and all_close(got.T, expected, tolerance):
        return Check(TRANSPOSED, "holds the transpose of the expected matrix (rows and columns swapped)")
    if not explain:
        return Check(VALUES, "values differ")
    return Check(VALUES, _difference(got, expected, close(got, expected, tolerance), tolerance))


def _shape_problem(got: np.ndarray, expected: np.ndarray, tolerance: Tolerance, words: Words | None = None) -> Check:
    said = f"has shape {_shape(got.shape)} but should have shape {_shape(expected.shape)}"
    if got.ndim == 2 and expected.ndim == 2 and got.shape == expected.shape[::-1]:
        if all_close(got.T, expected, tolerance):
            return Check(TRANSPOSED, f"{said}: it is the transpose of the expected matrix")
        return Check(TRANSPOSED, f"{said}: its rows and columns are swapped")
    if got.size == expected.size:
        right = all_close(got.reshape(expected.shape), expected, tolerance)
        numbers = "; the numbers themselves are right" if right else ""
        return Check(SHAPE, f"{said}: {_same_size_problem(got, expected)}{numbers}")
    kind = _kind_problem(got, expected, words)
    return Check(SHAPE, f"{said}: {kind}" if kind else said)


def _same_size_problem(got: np.ndarray, expected: np.ndarray) -> str:
    """The same numbers laid out differently: an extra or a missing axis of length 1."""
    if expected.ndim == 0:
        return "it is a single number inside an array; it should be a plain number (a scalar)"
    if got.ndim == 2 and expected.ndim == 1:
        kind = "column" if got.shape[1] == 1 else "row"
        return (f"it is a {kind} (a 2-D array with an axis of length 1) where a flat vector is expected; "
                "drop the extra axis")
    if got.ndim == 1 and expected.ndim == 2:
        kind = "column" if expected.shape[1] == 1 else "row"
        return f"it is a flat vector where a {kind} (a 2-D array with an axis of length 1) is expected"
    return "it has an extra axis of length 1" if got.ndim > expected.ndim else "it has an axis too few"


def _kind_problem(got: np.ndarray, expected: np.ndarray, words: Words | None = None) -> str:
    """Why a value of a different size has the wrong kind of shape, when the kinds say something."""
    unit, row, column = (getattr(words, key, None) for key in ("unit", "row", "column"))
    per_unit = f" (one value per {unit})" if unit else ""
    per_cell = f" (one row per {row}, one column per {column})" if row and column else ""
    if expected.ndim == 0:
        return "a vector where a single number is expected" if got.ndim >= 1 else ""
    if expected.ndim == 1 and got.ndim == 0:
        return f"a single number where one value per {unit} is expected" if unit else "a single number where a vector is expected"
    if expected.ndim == 1 and got.ndim == 1:
        return f"it holds {got.shape[0]} values instead of {expected.shape[0]}: is it computed from the right arrays?"
    if expected.ndim == 1 and got.ndim == 2:
        return f"a matrix where a vector{per_unit} is expected"
    if expected.ndim == 2 and got.ndim == 0:
        return ("a single number where a matrix is expected: a dot product of two vectors adds up their "
                "products into one number, while a matrix needs the product of every pair")
    if expected.ndim == 2 and got.ndim == 1 and got.shape[0] in expected.shape:
        return ("a 1-D array where a matrix is expected: multiplying two 1-D arrays element by element stays 1-D; "
                "to get every pair, one of them needs a new axis (a column)")
    if expected.ndim == 2 and got.ndim == 1:
        return f"a vector where a matrix{per_cell} is expected"
    return ""


def swapped_pair(first: np.ndarray | str | None, second: np.ndarray | str | None,
                 expected: tuple[np.ndarray, np.ndarray], tolerance: Tolerance) -> bool:
    """Whether two returned values are the expected pair in the opposite order (and not also in the right one)."""
    if not (isinstance(first, np.ndarray) and isinstance(second, np.ndarray)):
        return False
    in_order = check(first, expected[0], tolerance).ok and check(second, expected[1], tolerance).ok
    return not in_order and check(first, expected[1], tolerance).ok and check(second, expected[0], tolerance).ok


def _difference(got: np.ndarray, expected: np.ndarray, good: np.ndarray, tolerance: Tolerance) -> str:
    diff = np.abs(got - expected)
    flipped = bool(np.any(expected != 0) and all_close(-got, expected, tolerance))
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
