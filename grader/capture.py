"""Capture of a function's local variables when it returns or raises, without tracing.

The graded function's body is wrapped, at the AST level, in `try: ... finally: hook()`; the
hook reads the caller's frame, so a student who shadows `locals` cannot break it.
The same transform serves the student's code (in the sandbox child) and the reference (in the
grader), so both are observed the same way.
"""

from __future__ import annotations

import ast
import sys

HOOK_NAME = "__backprop_grader_capture__"


def instrument(tree: ast.Module, function: str) -> bool:
    """Wrap every definition of `function` in `tree` in place; True when one was found."""
    found = False
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef) and node.name == function:
            found = True
            _wrap(node)
    return found


def _wrap(node: ast.FunctionDef) -> None:
    # New nodes take the place of the body's first and last lines; the student's own nodes keep
    # theirs, so tracebacks still point at the student's lines (and nothing else is walked again).
    first, last = node.body[0], node.body[-1]
    name = ast.copy_location(ast.Name(HOOK_NAME, ast.Load()), last)
    call = ast.copy_location(ast.Call(func=name, args=[], keywords=[]), last)
    report = ast.copy_location(ast.Expr(call), last)
    wrapper = ast.Try(body=node.body, handlers=[], orelse=[], finalbody=[report])
    wrapper.lineno, wrapper.col_offset = first.lineno, first.col_offset
    wrapper.end_lineno, wrapper.end_col_offset = last.end_lineno, last.end_col_offset
    node.body = [wrapper]


class Recorder:
    """The hook placed in the namespace: keeps the locals of the outermost finished call."""

    def __init__(self) -> None:
        self.snapshot: dict | None = None

    def __call__(self) -> None:
        self.snapshot = dict(sys._getframe(1).f_locals)

    def take(self) -> dict | None:
        snapshot, self.snapshot = self.snapshot, None
        return snapshot
