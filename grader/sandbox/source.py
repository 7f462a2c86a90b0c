"""Turning a notebook cell's text into Python the child can run (runs in the child).

IPython syntax (`%magic`, `!shell`, `x = !cmd`, `obj?`) is not Python; those lines become
`pass` (or `name = None`) so the rest of the cell still runs, and each one is reported.
Line numbers are kept, so tracebacks still point at the student's lines.
"""

from __future__ import annotations

import ast
import re

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
    out, notes = [], []
    for number, line in enumerate(lines, start=1):
        assigned = _ASSIGNED_MAGIC.match(line)
        magic = _LINE_MAGIC.match(line)
        if assigned:
            out.append(f"{assigned.group(1)}{assigned.group(2)} = None")
            notes.append((number, f"IPython syntax `{line.strip()[:80]}` was not run ({assigned.group(2).strip()} set to None)"))
        elif magic:
            out.append(f"{magic.group(1)}pass")
            notes.append((number, f"IPython syntax `{line.strip()[:80]}` was not run"))
        else:
            out.append(line)
    return out, notes


def _syntax_error(error: SyntaxError, text: str) -> CellSyntaxError:
    line = error.lineno or 1
    lines = text.splitlines()
    code = lines[line - 1].strip() if 0 < line <= len(lines) else ""
    return CellSyntaxError(line, f"{type(error).__name__}: {error.msg}", code[:120])


def mentions_function(text: str, function: str) -> bool:
    """Whether a cell's text looks like it defines `function` (for cells that did not parse)."""
    return re.search(rf"^\s*def\s+{re.escape(function)}\b", text, re.MULTILINE) is not None
