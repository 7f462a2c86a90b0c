"""The child's value buffer (grader/values.py): every kind of value a function may return is kept as its float64
bytes and read back the same, whichever way the encoder takes to them."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from grader import values


def _values() -> list:
    """Arrays of every layout and dtype the child meets (the float64 ones take the encoder's direct way), scalars,
    lists, and values it must refuse."""
    chance = np.random.default_rng(20261130)
    base = chance.normal(size=(6, 5))
    special = np.array([np.nan, np.inf, -np.inf, -0.0, 5e-324, 1.7976931348623157e308])
    with warnings.catch_warnings():  # numpy's notice that the matrix class is not recommended
        warnings.simplefilter("ignore", PendingDeprecationWarning)
        matrix = np.asmatrix(base)
    return [
        base, base.T, base[::2, 1::2], base[:, 0], base[0], np.asarray(base, order="F"), base.reshape(1, 30, 1),
        np.float64(2.5) * np.ones(()), np.empty((0, 3)), special, special.astype(">f8"), base.astype(np.float32),
        np.arange(12, dtype=np.int64).reshape(3, 4), np.array([True, False]), matrix,
        np.zeros(values.MAX_ELEMENTS), np.zeros(values.MAX_ELEMENTS + 1), np.array(["a"]), np.zeros(2, dtype=complex),
        np.float64(1.5), np.float32(0.25), np.int64(-7), 3, 2.0, True, [1.0, 2.0], [[1, 2], [3, 4]], [[1.0], [2.0, 3.0]],
        (0.5, 1.5), [], None, "text", {"a": 1},
    ]


def _expected(value) -> tuple[list[int], bytes] | str | None:
    """What the buffer must hold for `value`: its shape and little-endian float64 bytes, or that it is refused."""
    if value is None:
        return None
    coerced = values.coerce(value)
    if isinstance(coerced, str):
        return "unsupported"
    return list(coerced.shape), np.asarray(coerced, dtype="<f8").tobytes()


@pytest.mark.parametrize("position", range(len(_values())))
def test_each_value_is_kept_as_its_float64_bytes(position: int) -> None:
    value = _values()[position]
    encoder = values.Encoder()
    encoder.encode(np.arange(3.0))  # an earlier value: offsets count from it
    entry = encoder.encode(value)
    expected = _expected(value)
    if expected is None:
        assert entry is None
        return
    if expected == "unsupported":
        assert set(entry) == {"unsupported"}
        return
    shape, raw = expected
    assert entry == {"at": 3, "shape": shape}
    decoded = values.Decoder(encoder.payload()).decode(entry)
    assert decoded.dtype == np.float64 and list(decoded.shape) == shape
    assert decoded.astype("<f8").tobytes() == raw  # bit for bit: NaN, -0.0 and subnormals included


def test_a_run_past_its_number_limit_refuses_the_value_that_overflows() -> None:
    encoder = values.Encoder()
    for _ in range(values.MAX_TOTAL // values.MAX_ELEMENTS):
        assert "at" in encoder.encode(np.zeros(values.MAX_ELEMENTS))
    assert set(encoder.encode(np.zeros(1))) == {"unsupported"}
    assert encoder.encode(None) is None
