"""Turning a notebook cell's text into Python the child can run (runs in the child).

IPython syntax (`%magic`, `!shell`, `x = !cmd`, `obj?`) is not Python; those lines become
`pass` (or `name = None`) so the rest of the cell still runs, and each one is reported.
Line numbers are kept, so tracebacks still point at the student's lines.
"""

from __future__ import annotations

import ast
import io
import re
import tokenize

# Cell magics whose body is still Python; any other cell magic makes the cell not Python.
PYTHON_CELL_MAGICS = frozenset({"time", "timeit", "capture", "prun", "debug"})
_LINE_MAGIC = re.compile(r"^(\s*)([%!].*|\?.*|[\w.]+\?\??)$")
_ASSIGNED_MAGIC = re.compile(r"^(\s*)([\w.\[\], ]+?)\s*=\s*[%!].*$")


class CellSyntaxError(Exception):
    """The cell is not Python even after IPython syntax is set aside."""

    def __init__(self, line: int, message: str, text: str) -> None:
        super().__init__(message)
        self.line = line
        self.message = message
        self.text = text


def parse_cell(text: str, filename: str) -> tuple[ast.Module | None, list[tuple[int, str]]]:
    """Parse a cell, setting IPython syntax aside; returns (tree or None, notes by line).

    The tree is None when the whole cell is not Python (a `%%bash` cell, say).
    Raises CellSyntaxError when the cell stays invalid.
    """
    notes: list[tuple[int, str]] = []
    lines = text.splitlines()
    first = next((i for i, line in enumerate(lines) if line.strip()), None)
    if first is not None and lines[first].lstrip().startswith("%%"):
        magic = lines[first].strip()[2:].split(maxsplit=1)
        name = magic[0] if magic else ""
        if name not in PYTHON_CELL_MAGICS:
            return None, [(first + 1, f"`%%{name}` cell is not Python and was not run")]
        lines[first] = ""
        notes.append((first + 1, f"cell magic `%%{name}` was ignored; its body ran as plain Python"))
        text = "\n".join(lines)
    try:
        return _parse(text, filename), notes
    except SyntaxError as first_error:
        rewritten, magic_notes = _neutralise(lines)
        if not magic_notes:
            raise _syntax_error(first_error, text) from None
        try:
            tree = _parse("\n".join(rewritten), filename)
        except SyntaxError as error:
            raise _syntax_error(error, text) from None
        return tree, notes + magic_notes


def _parse(text: str, filename: str) -> ast.Module:
    """ast.parse, with what the parser cannot take at all (nesting too deep, NUL bytes) made a syntax error."""
    try:
        return ast.parse(text, filename)
    except (MemoryError, RecursionError, ValueError) as error:
        raise CellSyntaxError(1, f"{type(error).__name__}: the cell cannot be parsed", "") from None


def _neutralise(lines: list[str]) -> tuple[list[str], list[tuple[int, str]]]:
    out, notes = list(lines), []
    starts = _statement_starts(lines)
    number = 0
    while number < len(lines):
        line = lines[number]
        assigned = _ASSIGNED_MAGIC.match(line)
        magic = _LINE_MAGIC.match(line)
        if number not in starts or not (assigned or magic):
            number += 1
            continue
        shown = line.strip()[:80]
        if assigned:
            out[number] = f"{assigned.group(1)}{assigned.group(2)} = None"
            notes.append((number + 1, f"IPython syntax `{shown}` was not run ({assigned.group(2).strip()} set to None)"))
        else:
            out[number] = f"{magic.group(1)}pass"
            notes.append((number + 1, f"IPython syntax `{shown}` was not run"))
        # A magic continued with a backslash (`!pip install \` then the packages) takes its next lines with it.
        while lines[number].rstrip().endswith("\\") and number + 1 < len(lines):
            number += 1
            out[number] = ""
        number += 1
    return out, notes


def _statement_starts(lines: list[str]) -> set[int]:
    """Indexes of the lines that begin a statement: not inside brackets, strings or a continued line.

    A line of Python that merely starts with `%` (`% error)` continuing a format) is no magic.
    The tokenizer reads IPython's `!` and `?` as error tokens and goes on; when it cannot read
    the cell at all, every line counts as a start.
    """
    starts, depth, at_start = set(), 0, True
    try:
        for token in tokenize.generate_tokens(io.StringIO("\n".join(lines) + "\n").readline):
            if token.type in (tokenize.NEWLINE, tokenize.NL, tokenize.COMMENT) and depth == 0:
                at_start = token.type != tokenize.COMMENT or at_start
                continue
            if token.type in (tokenize.INDENT, tokenize.DEDENT, tokenize.ENDMARKER):
                continue
            if at_start and depth == 0:
                starts.add(token.start[0] - 1)
            at_start = False
            if token.type == tokenize.OP and token.string in "([{":
                depth += 1
            elif token.type == tokenize.OP and token.string in ")]}":
                depth = max(0, depth - 1)
    except (tokenize.TokenError, SyntaxError, IndentationError):
        return set(range(len(lines)))
    return starts


def writefile(text: str) -> tuple[str, str, bool] | None:
    """(file name, body, append) of a `%%writefile [-a] NAME` cell, else None."""
    lines = text.splitlines(keepends=True)
    first = next((i for i, line in enumerate(lines) if line.strip()), None)
    if first is None:
        return None
    words = lines[first].split()
    if not words or words[0] not in ("%%writefile", "%%file"):
        return None
    append = "-a" in words[1:] or "--append" in words[1:]
    names = [word for word in words[1:] if not word.startswith("-")]
    if len(names) != 1:
        return None
    return names[0], "".join(lines[first + 1:]), append


def _syntax_error(error: SyntaxError, text: str) -> CellSyntaxError:
    line = error.lineno or 1
    lines = text.splitlines()
    code = lines[line - 1].strip() if 0 < line <= len(lines) else ""
    return CellSyntaxError(line, f"{type(error).__name__}: {error.msg}", code[:120])


def mentions_function(text: str, function: str) -> bool:
    """Whether a cell's text looks like it defines `function` (for cells that did not parse)."""
    return re.search(rf"^\s*def\s+{re.escape(function)}\b", text, re.MULTILINE) is not None
