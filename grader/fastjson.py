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

`dumps` writes: a sandbox child's document (about 30 KB) took json.dumps over a millisecond in a
fresh fork, msgspec a quarter of that.
"""

from __future__ import annotations

import functools
import json
import sys
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


def dumps(value: Any) -> bytes:
    """Compact JSON of `value` as UTF-8 bytes, that `loads` and json.loads read as the value json.dumps's text gives.

    For plain data without floats (str, int, bool, None, lists and dicts with string keys): msgspec writes a
    NaN as null where json writes NaN. msgspec writes non-ASCII text as UTF-8 where json escapes it, the same
    text once read. Where msgspec refuses a value (a lone surrogate, a subclass of str or int) or is not
    installed, json writes it.
    """
    encoder = writer()
    if encoder is not None:
        encode, refused = encoder
        try:
            return encode(value)
        except refused:
            pass
    return json.dumps(value, separators=(",", ":")).encode()


@functools.cache
def writer() -> tuple[Callable[[Any], bytes], tuple[type[BaseException], ...]] | None:
    """msgspec's JSON encoder and the errors on which json writes instead, or None without msgspec.

    A process that forks writers (the fork server) calls it first, so no child imports msgspec itself.
    """
    msgspec = _import_msgspec()
    if msgspec is None:
        return None
    return msgspec.json.Encoder().encode, (TypeError, ValueError, OverflowError, RecursionError)


@functools.cache
def _msgspec() -> tuple[Callable[[Any], Any], tuple[type[BaseException], ...]] | None:
    """msgspec's JSON decoder and the errors on which json reads the text instead, or None without msgspec."""
    msgspec = _import_msgspec()
    if msgspec is None:
        return None
    return msgspec.json.Decoder().decode, (msgspec.MsgspecError, RecursionError)


def _import_msgspec():
    """msgspec, or None where it is not installed (the project's dependency markers leave it out where it has no wheel).

    Its import loads typing_extensions, when installed, for the type hints of typed decoding only: about 10 ms,
    a third of its import, in the grader and in every fork server, for plain JSON that never asks for a type. Unless
    something loaded it already, it is hidden meanwhile, and msgspec takes typing's own (all there from Python 3.11).
    """
    hidden = "typing_extensions" not in sys.modules
    if hidden:
        sys.modules["typing_extensions"] = None  # an import of it fails at once, without looking for it
    try:
        import msgspec
    except ImportError:
        return None
    finally:
        if hidden and sys.modules.get("typing_extensions", False) is None:
            del sys.modules["typing_extensions"]
    return msgspec
