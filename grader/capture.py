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


class _WrapFunction(ast.NodeTransformer):
    def __init__(self, function: str) -> None:
        self.function = function
        self.found = False

    def visit_FunctionDef(self, node: ast.FunctionDef) -> ast.FunctionDef:
        self.generic_visit(node)
        if node.name != self.function:
            return node
        self.found = True
        report = ast.Expr(ast.Call(func=ast.Name(HOOK_NAME, ast.Load()), args=[], keywords=[]))
        node.body = [ast.Try(body=node.body, handlers=[], orelse=[], finalbody=[report])]
        return node


def instrument(tree: ast.Module, function: str) -> bool:
    """Wrap every definition of `function` in `tree` in place; True when one was found."""
    transformer = _WrapFunction(function)
    transformer.visit(tree)
    ast.fix_missing_locations(tree)
    return transformer.found


class Recorder:
    """The hook placed in the namespace: keeps the locals of the outermost finished call."""

    def __init__(self) -> None:
        self.snapshot: dict | None = None

    def __call__(self) -> None:
        self.snapshot = dict(sys._getframe(1).f_locals)

    def take(self) -> dict | None:
        snapshot, self.snapshot = self.snapshot, None
        return snapshot
