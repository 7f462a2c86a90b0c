"""Plain-data encoding of numeric values that cross the sandbox boundary.

The child encodes with an exact type check (never a method of a student-defined class), the
grader decodes into float64 arrays. What travels is a shape and the little-endian float64
bytes in base64: plain data, checked against the shape on arrival, and far cheaper than
printing and parsing every float as decimal text.
"""

from __future__ import annotations

import math
from base64 import b64encode
from binascii import a2b_base64 as _a2b_base64
from typing import Any

import numpy as np

MAX_ELEMENTS = 10_000

_NUMPY_SCALARS = frozenset(
    {np.float64, np.float32, np.float16, np.longdouble, np.int8, np.int16, np.int32, np.int64,
     np.uint8, np.uint16, np.uint32, np.uint64, np.bool_}
)
_PLAIN_SCALARS = frozenset({float, int, bool})
_ARRAY_TYPES = frozenset({np.ndarray, np.matrix})
_SEQUENCES = frozenset({list, tuple})
# Bound on list nesting so a self-referencing list cannot recurse without end.
_MAX_DEPTH = 8
_float64 = np.float64
_ndarray = np.ndarray
_asarray = np.asarray
_stack = np.stack
_b64encode = b64encode
_frombuffer = np.frombuffer
_LITTLE_F8 = np.dtype("<f8")


class Unsupported(Exception):
    """A value that is not a plain number, array or rectangular list of them."""


def encode(value: Any) -> dict | None:
    """Encode a student's value as {"shape", "data"}, {"unsupported"} or None (for None)."""
    if value is None:
        return None
    try:
        array = _to_float_array(value, 0)
    except Unsupported as reason:
        return {"unsupported": str(reason)}
    except (OverflowError, ValueError, MemoryError) as reason:
        return {"unsupported": f"{type(reason).__name__} while reading it"}
    return {"shape": list(array.shape), "f8": _b64encode(array.astype("<f8").tobytes()).decode("ascii")}


def _to_float_array(value: Any, depth: int) -> np.ndarray:
    kind = type(value)
    if kind in _PLAIN_SCALARS or kind in _NUMPY_SCALARS:
        return _asarray(float(value), dtype=_float64)
    if kind in _ARRAY_TYPES:
        array = value.view(_ndarray)
        if array.dtype.kind not in "biuf":
            raise Unsupported(f"array of dtype {array.dtype.name}")
        if array.size > MAX_ELEMENTS:
            raise Unsupported(f"array of shape {array.shape}, too large")
        return array.astype(_float64)
    if kind in _SEQUENCES:
        if depth >= _MAX_DEPTH:
            raise Unsupported("list nested too deeply")
        if len(value) > MAX_ELEMENTS:
            raise Unsupported(f"{kind.__name__} of {len(value)} items, too large")
        items = [_to_float_array(item, depth + 1) for item in value]
        if not items:
            return _asarray([], dtype=_float64)
        if len({item.shape for item in items}) != 1:
            raise Unsupported(f"ragged {kind.__name__} (items of different shapes)")
        stacked = _stack(items)
        if stacked.size > MAX_ELEMENTS:
            raise Unsupported(f"{kind.__name__} of shape {stacked.shape}, too large")
        return stacked
    raise Unsupported(type_name(kind))


def coerce(value: Any) -> np.ndarray | str | None:
    """What `decode(encode(value))` gives, without the text round trip (for the grader's own values)."""
    if value is None:
        return None
    try:
        return _to_float_array(value, 0)  # always a new float64 array
    except (Unsupported, OverflowError, ValueError, MemoryError):
        return decode(encode(value))


def type_name(kind: type) -> str:
    module = getattr(kind, "__module__", "") if isinstance(kind, type) else ""
    name = kind.__qualname__ if isinstance(kind, type) else "object"
    return name if module in ("builtins", "") else f"{module}.{name}"


def decode(encoded: Any) -> np.ndarray | str | None:
    """Decode what `encode` produced, checking it strictly: an array, a reason string, or None.

    Raises ValueError when the document does not have the promised form.
    """
    if encoded is None:
        return None
    if not isinstance(encoded, dict):
        raise ValueError("value is not an object")
    if set(encoded) == {"unsupported"} and isinstance(encoded["unsupported"], str):
        return "unsupported value: " + encoded["unsupported"][:200]
    if set(encoded) != {"shape", "f8"}:
        raise ValueError("value has unexpected keys")
    shape, data = encoded["shape"], encoded["f8"]
    if not isinstance(shape, list) or not all(type(n) is int and 0 <= n <= MAX_ELEMENTS for n in shape):
        raise ValueError("bad shape")
    if not isinstance(data, str) or len(data) > 12 * MAX_ELEMENTS:
        raise ValueError("data is not a bounded string")
    try:
        raw = _a2b_base64(data, strict_mode=True)
    except ValueError:  # binascii.Error, or text that is not ASCII
        raise ValueError("data is not base64") from None
    if len(raw) != 8 * math.prod(shape):
        raise ValueError("data does not match shape")
    return _frombuffer(raw, dtype=_LITTLE_F8).astype(_float64).reshape(shape)
