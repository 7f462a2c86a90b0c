"""text.printable: what student-controlled text keeps and loses."""

from __future__ import annotations

from grader import text


def test_printable_replaces_exactly_what_the_unsafe_pattern_names_for_every_code_point():
    """text.printable: its shortcut for text that is all printable ASCII gives what the pattern gives, for every code
    point alone and beside printable ASCII, tab and newline (kept) included."""
    for code in range(0x110000):
        character = chr(code)
        for sample in (character, f"ok {character} ok"):
            assert text.printable(sample) == text._CONTROL.sub("\ufffd", sample), hex(code)
    assert text.printable("a\tb\nc") == "a\tb\nc" and text.printable("\x1b[2J") == "\ufffd[2J"
