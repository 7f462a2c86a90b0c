"""`json.loads`, faster where msgspec is installed, with json's answer and json's errors for every text.

A class run parses each notebook's JSON twice (routing, then grading) and each child's result
once; with the stdlib that was a sixth of the grader's time. msgspec reads the same texts three
to four times faster and reads what it accepts as json does (integers of any length included).
It is stricter: where it refuses a text (NaN or Infinity, a number beyond a float's range, a
lone surrogate, a byte-order mark, bytes that are not UTF-8, deep nesting) json reads it, so the
value or the error is json's. Without msgspec (a platform it has no wheel for), json reads
everything.

msgspec is imported for the first text of `LARGE` characters or more: importing it costs about
what it saves on a hundred notebooks, and a re-grade served from the cache reads small records only.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from typing import Any

LARGE = 16 * 1024


def loads(text: str | bytes | bytearray, parse_constant: Callable[[str], Any] | None = None) -> Any:
    """What `json.loads(text, parse_constant=parse_constant)` returns, or raises (msgspec reads no constant)."""
    if len(text) >= LARGE:
        reader = _msgspec()
        if reader is not None:
            decode, refused = reader
            try:
                return decode(text)
            except refused:
                pass
    return json.loads(text, parse_constant=parse_constant)


@functools.cache
def _msgspec() -> tuple[Callable[[Any], Any], tuple[type[BaseException], ...]] | None:
    """msgspec's JSON decoder and the errors on which json reads the text instead, or None without msgspec."""
    try:
        import msgspec
    except ImportError:  # the project's dependency markers leave it out where it has no wheel
        return None
    return msgspec.json.Decoder().decode, (msgspec.MsgspecError, RecursionError)
