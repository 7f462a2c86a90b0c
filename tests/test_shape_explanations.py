"""Shape problems said in words, with the shapes; a swapped pair recognised."""

from __future__ import annotations

import numpy as np
import pytest

from grader import compare
from grader.models import Tolerance, Words

TOLERANCE = Tolerance(1e-3, 1e-8)
VECTOR = np.array([0.1, -0.2, 0.3])
MATRIX = np.outer(VECTOR, [1.0, 2.0])
# backward_pass's words ([words] of its rubric); without them the sentences are neutral.
UNITS = Words(unit="unit", row="input", column="unit")


@pytest.mark.parametrize(("got", "expected", "kind", "words"), [
    (MATRIX.T, MATRIX, compare.TRANSPOSED, "has shape (2, 3) but should have shape (3, 2): it is the transpose"),
    (VECTOR[:, None], VECTOR, compare.SHAPE, "it is a column (a 2-D array with an axis of length 1) where a flat vector"),
    (VECTOR[None, :], VECTOR, compare.SHAPE, "it is a row (a 2-D array"),
    (VECTOR, VECTOR[:, None], compare.SHAPE, "it is a flat vector where a column"),
    (np.array([0.5]), np.array(0.5), compare.OK, ""),
    (np.array([0.5, 0.5]), np.array(0.5), compare.SHAPE, "a vector where a single number is expected"),
    (np.array(0.5), VECTOR, compare.SHAPE, "a single number where one value per unit is expected"),
    (np.array(0.5), MATRIX, compare.SHAPE, "a single number where a matrix is expected: a dot product"),
    (np.array([0.1, 0.2]), MATRIX, compare.SHAPE, "a 1-D array where a matrix is expected"),
    (np.ones(4), MATRIX, compare.SHAPE, "a vector where a matrix (one row per input"),
    (np.ones(4), VECTOR, compare.SHAPE, "it holds 4 values instead of 3"),
    (MATRIX, VECTOR, compare.SHAPE, "a matrix where a vector"),
])
def test_shape_problems_in_words(got, expected, kind, words):
    result = compare.check(got, expected, TOLERANCE, words=UNITS)
    assert result.kind == kind
    assert words in result.detail


@pytest.mark.parametrize(("got", "expected", "words"), [
    (np.array(0.5), VECTOR, "has shape () but should have shape (3,): a single number where a vector is expected"),
    (np.ones(4), MATRIX, "has shape (4,) but should have shape (3, 2): a vector where a matrix is expected"),
    (MATRIX, VECTOR, "has shape (3, 2) but should have shape (3,): a matrix where a vector is expected"),
])
def test_shape_problems_in_neutral_words(got, expected, words):
    """Without a rubric's [words], shape sentences name no part of any exercise (no "unit", no "input")."""
    assert compare.check(got, expected, TOLERANCE).detail == words


def test_same_numbers_in_another_layout_are_said_to_be_right():
    assert "the numbers themselves are right" in compare.check(VECTOR[:, None], VECTOR, TOLERANCE).detail


def test_swapped_pair():
    assert compare.swapped_pair(MATRIX, VECTOR, (VECTOR, MATRIX), TOLERANCE)
    assert not compare.swapped_pair(VECTOR, MATRIX, (VECTOR, MATRIX), TOLERANCE)
    assert not compare.swapped_pair(MATRIX, None, (VECTOR, MATRIX), TOLERANCE)
    # Equal values in either order are not a swap.
    assert not compare.swapped_pair(VECTOR, VECTOR, (VECTOR, VECTOR), TOLERANCE)
