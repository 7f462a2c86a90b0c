"""Student-controlled text made safe to print: no control characters reach a terminal or a log."""

from __future__ import annotations

import re

# C0 and C1 controls but tab and newline, DEL, and the Unicode line/paragraph separators: escape
# sequences can clear a screen, retitle a window or write the clipboard (OSC 52).
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029]")


def printable(text: str) -> str:
    """`text` with every control character but tab and newline replaced by U+FFFD."""
    return _CONTROL.sub("\ufffd", text)
