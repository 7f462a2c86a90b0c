"""Student-controlled text made safe to print, encode and store: no control character, no lone surrogate.

Names (student ids, submission paths) and messages enter the grader from file names and from the
sandboxed child; they are cleaned once, where they enter, so every writer downstream (terminal,
results log, JSON, CSV, HTML) can encode them strictly and no row can break a report.
"""

from __future__ import annotations

import os
import re

# C0 and C1 controls but tab and newline, DEL, the Unicode line/paragraph separators, the bidi
# embeddings, overrides, isolates and marks (they reorder a line so it reads as another: "bob 10/10"),
# and lone surrogates (undecodable bytes of a file name, or text a child made): escape sequences can
# clear a screen, retitle a window or write the clipboard (OSC 52), and a surrogate cannot be encoded.
_UNSAFE = "\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069\ud800-\udfff"
_CONTROL = re.compile(f"[{_UNSAFE}]")
_CONTROL_OR_BREAK = re.compile(f"[{_UNSAFE}\t\n]")


def printable(text: str) -> str:
    """`text` with every control character but tab and newline, and every lone surrogate, replaced by U+FFFD."""
    if text.isascii() and text.isprintable():  # most text: no control character at all (nor tab, nor newline)
        return text
    return _CONTROL.sub("\ufffd", text)


def one_line(text: str) -> str:
    """`text` fit for one line of a terminal or a table: `printable`, and no tab or newline either."""
    return _CONTROL_OR_BREAK.sub("\ufffd", text)


def path_name(path: os.PathLike | str) -> str:
    """A file path as one printable line: bytes that are not UTF-8 (a Latin-1 name from a zip) read as Latin-1.

    Python keeps such bytes as surrogate escapes; decoding them as Latin-1 shows "café" rather than
    a replacement mark, and a Latin-1 name is by far the most common non-UTF-8 one.
    """
    try:
        raw = os.fsencode(path)
    except UnicodeEncodeError:  # a surrogate no file name decodes to: text made elsewhere, cleaned as it is
        return one_line(os.fspath(path))
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        text = raw.decode("latin-1")
    return one_line(text)
