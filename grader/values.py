"""Plain-data encoding of numeric values that cross the sandbox boundary, both ways.

The graded function's arguments go to the child as JSON numbers with their Python type kept
(`encode_argument`, `decode_argument`: the one codec both sides use). Its values come back another
way. The child encodes with an exact type check (never a method of a student-defined class), the
grader decodes into float64 arrays. All of a submission's numbers travel as one buffer of
little-endian float64 bytes in base64; each value is an offset and a shape into it, checked
against the buffer on arrival. Plain data, and far cheaper than printing and parsing every
float as decimal text, or decoding a blob per value.
"""

from __future__ import annotations

from base64 import b64encode
from binascii import a2b_base64 as _a2b_base64
from struct import Struct
from typing import Any, Literal, TypedDict

import numpy as np

MAX_ELEMENTS = 10_000
# Numbers one run may send in all (41 cases of a few steps need a few thousand).
MAX_TOTAL = 1_000_000

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
_array = np.array
_generic = np.generic
_LITTLE_F8 = np.dtype("<f8")
_pack_f8 = Struct("<d").pack


class Argument(TypedDict):
    """One argument of the graded function as it crosses to the child."""

    kind: Literal["float", "scalar", "array"]
    value: float | list


def encode_argument(value: Any) -> Argument:
    """An argument as plain data for the sandbox child, keeping its Python type: float, numpy scalar or array."""
    if isinstance(value, (float, int)) and not isinstance(value, (bool, _generic)):
        return {"kind": "float", "value": float(value)}
    array = _asarray(value, dtype=_float64)
    if isinstance(value, _generic) or array.ndim == 0:
        return {"kind": "scalar", "value": float(array)}
    return {"kind": "array", "value": array.tolist()}


def decode_argument(encoded: Argument) -> Any:
    """The inverse of `encode_argument`: a new float, float64 scalar or float64 array."""
    kind, value = encoded["kind"], encoded["value"]
    if kind == "float":
        return float(value)
    if kind == "scalar":
        return _float64(value)
    return _array(value, dtype=_float64)


class Unsupported(Exception):
    """A value that is not a plain number, array or rectangular list of them."""


class Encoder:
    """Collects the values of one run into a single buffer (in the child)."""

    def __init__(self) -> None:
        self._chunks: list[bytes] = []
        self._size = 0

    def encode(self, value: Any) -> dict | None:
        """{"at", "shape"} into the buffer, {"unsupported": reason}, or None for None."""
        if value is None:
            return None
        kind = type(value)
        try:
            # Numbers and arrays (nearly every value) go straight to their bytes: no float64 copy in between. A
            # float64 array (most values) is its own bytes: no view of it, no conversion asked for.
            if kind is _ndarray and value.dtype is _LITTLE_F8 and value.size <= MAX_ELEMENTS:
                raw, shape, size = value.tobytes(), list(value.shape), value.size
            elif kind in _PLAIN_SCALARS or kind in _NUMPY_SCALARS:
                raw, shape, size = _pack_f8(float(value)), [], 1
            else:
                array = _checked_array(value) if kind in _ARRAY_TYPES else _to_float_array(value, 0)
                raw, shape, size = None, list(array.shape), array.size
        except Unsupported as reason:
            return {"unsupported": str(reason)}
        except (OverflowError, ValueError, MemoryError) as reason:
            return {"unsupported": f"{type(reason).__name__} while reading it"}
        if self._size + size > MAX_TOTAL:
            return {"unsupported": "one value too many: the run produced too many numbers in all"}
        entry = {"at": self._size, "shape": shape}
        self._chunks.append(raw if raw is not None else array.astype(_LITTLE_F8, copy=False).tobytes())
        self._size += size
        return entry

    def payload(self) -> str:
        """The buffer, in base64."""
        return _b64encode(b"".join(self._chunks)).decode("ascii")


def _to_float_array(value: Any, depth: int) -> np.ndarray:
    kind = type(value)
    if kind in _PLAIN_SCALARS or kind in _NUMPY_SCALARS:
        return _asarray(float(value), dtype=_float64)
    if kind in _ARRAY_TYPES:
        return _checked_array(value).astype(_float64)
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


def _checked_array(value: np.ndarray) -> np.ndarray:
    """A plain ndarray view of a numeric array of at most MAX_ELEMENTS (a matrix's view too, never a copy)."""
    array = value.view(_ndarray)
    if array.dtype.kind not in "biuf":
        raise Unsupported(f"array of dtype {array.dtype.name}")
    if array.size > MAX_ELEMENTS:
        raise Unsupported(f"array of shape {array.shape}, too large")
    return array


def coerce(value: Any) -> np.ndarray | str | None:
    """A value as the grader sees a student's: a new float64 array, a reason string, or None (for the reference)."""
    if value is None:
        return None
    try:
        return _to_float_array(value, 0)
    except Unsupported as reason:
        return "unsupported value: " + str(reason)
    except (OverflowError, ValueError, MemoryError) as reason:
        return f"unsupported value: {type(reason).__name__} while reading it"


def type_name(kind: type) -> str:
    module = getattr(kind, "__module__", "") if isinstance(kind, type) else ""
    name = kind.__qualname__ if isinstance(kind, type) else "object"
    return name if module in ("builtins", "") else f"{module}.{name}"


class Decoder:
    """Reads values out of one run's buffer (in the grader), checking every entry strictly.

    Raises ValueError when the buffer or an entry does not have the promised form.
    """

    def __init__(self, payload: Any) -> None:
        if not isinstance(payload, str) or len(payload) > 12 * MAX_TOTAL:
            raise ValueError("the value buffer is not a bounded string")
        try:
            raw = _a2b_base64(payload, strict_mode=True)
        except ValueError:  # binascii.Error, or text that is not ASCII
            raise ValueError("the value buffer is not base64") from None
        if len(raw) % 8:
            raise ValueError("the value buffer is not whole float64s")
        # Read-only views into one array: nothing downstream may change a student's value.
        self._flat = _frombuffer(raw, dtype=_LITTLE_F8).astype(_float64)
        self._flat.flags.writeable = False
        self._size = self._flat.size

    def decode(self, encoded: Any) -> np.ndarray | str | None:
        """An array, a reason string, or None."""
        if encoded is None:
            return None
        if not isinstance(encoded, dict):
            raise ValueError("value is not an object")
        if len(encoded) == 1 and isinstance(encoded.get("unsupported"), str):
            return "unsupported value: " + encoded["unsupported"][:200]
        if len(encoded) != 2:
            raise ValueError("value has unexpected keys")
        at, shape = encoded["at"], encoded["shape"]
        if type(shape) is not list:
            raise ValueError("bad shape")
        size = 1
        for n in shape:  # one pass checks each length and multiplies them (called ~220 times per submission)
            if type(n) is not int or not 0 <= n <= MAX_ELEMENTS:
                raise ValueError("bad shape")
            size *= n
        if type(at) is not int or at < 0 or size > MAX_ELEMENTS or at + size > self._size:
            raise ValueError("value lies outside the buffer")
        return self._flat[at:at + size].reshape(shape)
