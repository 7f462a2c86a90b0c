"""The course's self-check cell: the text the stub ships, and how the grader recognises it to leave it out.

The cell calls `selfcheck.notebook_check()`, which runs the saved notebook in a sandbox. Run there
(by `grade`, or by the self-check itself) it could only warn: the grader is not importable in the
sandbox, and nothing there says which notebook is running. It computes nothing the graded function
needs, so the grader drops it before the run. Only a cell that does nothing else is dropped (an
import of `selfcheck` from `grader`, then calls of `selfcheck.notebook_check` with constant
arguments, comments and blank lines): no other code can hide behind it.
"""

from __future__ import annotations

import ast

SOURCE = ("# Check your work on the demo's inputs (save the notebook first). Grading leaves this cell out.\n"
          "from grader import selfcheck\n"
          "selfcheck.notebook_check()")


_LONGEST = 1000
"""No self-check cell is longer: a longer cell is not parsed here at all (student text, in the grader's process)."""


def is_self_check(source: str) -> bool:
    """Whether a code cell is the course's self-check cell and nothing else."""
    if len(source) > _LONGEST or "notebook_check" not in source:
        return False
    try:
        body = ast.parse(source).body
    except (SyntaxError, ValueError, MemoryError, RecursionError):  # deep nesting fails in the parser itself
        return False
    if len(body) < 2 or not _imports_selfcheck(body[0]):
        return False
    return all(_calls_check(statement) for statement in body[1:])


def _imports_selfcheck(statement: ast.stmt) -> bool:
    return (isinstance(statement, ast.ImportFrom) and statement.module == "grader" and statement.level == 0
            and [(alias.name, alias.asname) for alias in statement.names] == [("selfcheck", None)])


def _calls_check(statement: ast.stmt) -> bool:
    call = statement.value if isinstance(statement, ast.Expr) else None
    return (isinstance(call, ast.Call) and isinstance(call.func, ast.Attribute) and call.func.attr == "notebook_check"
            and isinstance(call.func.value, ast.Name) and call.func.value.id == "selfcheck"
            and all(isinstance(argument, ast.Constant) for argument in call.args)
            and all(isinstance(keyword.value, ast.Constant) and keyword.arg is not None for keyword in call.keywords))
