"""compare.all_close gives exactly `close(...).all()`: the same numbers pass and fail, bit for bit at the boundary."""

from __future__ import annotations

import numpy as np
import pytest

from grader import compare
from grader.models import Tolerance

TOLERANCES = (Tolerance(1e-3, 1e-8), Tolerance(1e-6, 1e-9), Tolerance(0.0, 0.0), Tolerance(1e-2, 0.0))
SPECIAL = (0.0, -0.0, 1.0, -1.0, np.nan, np.inf, -np.inf, 5e-324, 2.2250738585072014e-308, 1e-300, 1e300,
           np.finfo(np.float64).max, -np.finfo(np.float64).max, 1e-9, 1e-8, 0.001)


def _on_the_boundary(expected: np.ndarray, tolerance: Tolerance, rng: np.random.Generator) -> np.ndarray:
    """Values at the edge of the tolerance around `expected`, one ulp either side of it, and further."""
    edge = tolerance.atol + tolerance.rtol * np.abs(expected)
    offsets = rng.choice([0.0, 1.0, -1.0, 0.5, 2.0], size=expected.shape) * edge
    moved = expected + offsets
    return np.where(rng.random(expected.shape) < 0.3, np.nextafter(moved, rng.choice([-np.inf, np.inf])), moved)


def test_all_close_agrees_with_close_on_random_and_special_values():
    rng = np.random.default_rng(12)
    checked = 0
    with np.errstate(all="ignore"):  # the special values overflow on purpose
        for tolerance, _ in ((tolerance, n) for tolerance in TOLERANCES for n in range(3000)):
            shape = [(), (1,), (3,), (2, 3), (8, 8), (9, 8)][rng.integers(6)]  # the last two around the cut-over
            expected = rng.normal(0, 10.0 ** rng.integers(-12, 12), size=shape)
            if rng.random() < 0.3 and expected.size:
                expected.ravel()[rng.integers(expected.size)] = rng.choice(SPECIAL)
            got = _on_the_boundary(expected, tolerance, rng)
            if rng.random() < 0.3 and got.size:
                got.ravel()[rng.integers(got.size)] = rng.choice(SPECIAL)
            wanted = bool(compare.close(got, expected, tolerance).all())
            assert compare.all_close(got, expected, tolerance) is wanted, (got, expected, tolerance)
            checked += wanted
    assert 0 < checked < 4 * 3000  # both answers were asked for


@pytest.mark.parametrize("got", [np.array(3, dtype=np.int64), np.array([True, False]), np.array([0.5], dtype=np.float32),
                                 np.broadcast_to(np.array([0.1, 0.2]), (3, 2)), np.arange(6.0).reshape(2, 3).T])
def test_all_close_reads_other_dtypes_and_layouts_as_close_does(got):
    tolerance = Tolerance(1e-3, 1e-8)
    for expected in (np.asarray(got, dtype=np.float64), np.asarray(got, dtype=np.float64) + 0.5):
        assert compare.all_close(got, expected, tolerance) is bool(compare.close(got, expected, tolerance).all())


@pytest.mark.parametrize(("got", "kind", "said"), [
    (np.array([0.1, np.nan, 0.3]), compare.NONFINITE, "has 1 of 3 elements that are NaN or infinite"),
    (np.array([np.inf, -np.inf, 0.3]), compare.NONFINITE, "has 2 of 3 elements that are NaN or infinite"),
    (np.array(np.nan), compare.NONFINITE, "has 1 of 1 elements that are NaN or infinite"),
    (np.array([0.1, -0.2, 0.3 + 1e-9]), compare.OK, ""),
    (np.array([0.1, -0.2, 0.4]), compare.VALUES, "1 / 3 elements differ, max abs diff 0.1 at index 2"),
])
def test_a_check_names_non_finite_numbers_before_differences(got, kind, said):
    """compare.check: a value with NaN or infinities is said to have them (however close the rest), whichever
    test runs first; a close value passes; a wrong one says where."""
    expected = np.array([0.1, -0.2, 0.3]) if got.ndim else np.array(0.5)
    check = compare.check(got, expected, Tolerance(1e-3, 1e-8))
    assert (check.kind, check.detail) == (kind, said)
