"""Reading formulas from source: where each step of the reference function gets its value, and an
instructor's formula (a rubric's `carried`, a catalogue entry) compiled and checked."""

from __future__ import annotations

import ast
import types
from dataclasses import dataclass

from grader.errors import ConfigError


@dataclass(frozen=True)
class StepSource:
    """A step's last assignment in the reference function."""

    expression: ast.expr
    in_loop: bool
    accumulating: bool


def function_definitions(tree: ast.Module, function: str) -> list[ast.FunctionDef]:
    return [node for node in ast.walk(tree) if isinstance(node, ast.FunctionDef) and node.name == function]


def step_sources(definition: ast.FunctionDef, returns: tuple[str, ...]) -> dict[str, StepSource]:
    """Each step's last assignment in the reference function, wherever it stands, with its return expression.

    `name += e` (and -=, *=, ...) is read as `name + e`, `name` meaning its value before the statement.
    """
    found: dict[str, StepSource] = {}
    returned: ast.expr | None = None

    def visit(statements: list[ast.stmt], in_loop: bool) -> None:
        nonlocal returned
        for statement in statements:
            if isinstance(statement, ast.Assign) and len(statement.targets) == 1 and isinstance(statement.targets[0], ast.Name):
                name = statement.targets[0].id
                found[name] = StepSource(statement.value, in_loop, name in names(statement.value))
            elif isinstance(statement, ast.AugAssign) and isinstance(statement.target, ast.Name):
                name = statement.target.id
                expression = ast.BinOp(ast.Name(name, ast.Load()), statement.op, statement.value)
                found[name] = StepSource(ast.copy_location(expression, statement.value), in_loop, True)
            elif isinstance(statement, ast.Return) and statement.value is not None:
                returned = statement.value
            if isinstance(statement, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                continue
            looping = in_loop or isinstance(statement, ast.For | ast.While | ast.AsyncFor)
            visit(getattr(statement, "body", None) or [], looping)
            # A loop's else branch runs once, after the loop.
            visit(getattr(statement, "orelse", None) or [], in_loop if isinstance(statement, ast.For | ast.While) else looping)
            visit(getattr(statement, "finalbody", None) or [], looping)
            for handler in getattr(statement, "handlers", None) or []:
                visit(handler.body, looping)

    visit(definition.body, False)
    if returned is not None:
        if len(returns) == 1:
            single = isinstance(returned, ast.Tuple) and len(returned.elts) == 1
            elements = returned.elts if single else [returned]
        else:
            elements = returned.elts if isinstance(returned, ast.Tuple) else []
        for name, element in zip(returns, elements):
            if not (isinstance(element, ast.Name) and element.id == name):
                found[name] = StepSource(element, False, False)
    return found


def names(expression: ast.AST) -> set[str]:
    return {node.id for node in ast.walk(expression) if isinstance(node, ast.Name)}


def compile_formula(source: str, known: set[str], where: str) -> types.CodeType:
    """An instructor's formula compiled as an expression, every name it uses checked against `known`."""
    try:
        tree = ast.parse(source.strip(), mode="eval")
    except SyntaxError as error:
        raise ConfigError(f"{where}: formula {source!r} is not a Python expression ({error.msg})") from None
    unknown = sorted(names(tree) - known)
    if unknown:
        raise ConfigError(f"{where}: formula {source!r} uses {', '.join(unknown)}: neither a parameter, "
                          "a local of the reference function nor a name defined by the reference notebook")
    return compile(tree, f"<formula {source.strip()}>", "eval")
