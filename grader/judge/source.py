"""Facts read from the student's source text, in the grader's process: parsing only, nothing is run.

What the run cannot tell: whether a step with no value is a name the function never binds (its
value lives inside another expression) or one a branch skipped; which notebook globals the
function reads instead of its parameters; and which steps read a parameter after the function
changed it in place. The cells are parsed as the child parses them (`sandbox.source`), with the
parser's own limits; a notebook that cannot be read this way simply yields no facts.
"""

from __future__ import annotations

import ast
import builtins
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from grader.sandbox import source as cell_source
from grader.sandbox.wire import Cell

# Parsing is cheap, but a notebook is untrusted: a cell longer than this (a hundred times a real one) is not
# read, and its facts are lost (the function's, if it is defined there: then the notebook has no facts).
MAX_CELL = 100_000
# And no more than this much code in all is read from one notebook (a few tenths of a second at worst).
MAX_TOTAL = 300_000
_SCOPES = (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef)
_LOOPS = (ast.For, ast.While, ast.AsyncFor)


@dataclass(frozen=True)
class Change:
    """A statement of the graded function that changes a parameter's array in place (`weights -= ...`)."""

    parameter: str
    """The parameter as the reference names it (the run reports changed arguments by those names)."""
    written: str
    """The parameter as the student's function names it."""
    cell: int
    line: int


@dataclass(frozen=True)
class SourceFacts:
    """What the graded function's last definition in the notebook says about itself."""

    bound: frozenset[str]
    """Every name the function binds (assignments, loop targets, `with ... as`, imports, nested definitions)."""
    globals_read: tuple[str, ...] = ()
    """Names bound by the notebook's top-level code (values, not definitions) that the function reads."""
    changed_before: dict[str, tuple[Change, ...]] = field(default_factory=dict)
    """Step -> the in-place changes of a parameter its assignment reads after (in order, or in the same loop)."""


def read(cells: Sequence[Cell], function: str, parameters: Iterable[str], steps: Iterable[str],
         allowed_globals: Iterable[str] = ()) -> SourceFacts | None:
    """The facts of `function` in these cells, or None when it cannot be found or read.

    `parameters`: the reference's parameter names, in order (the student's function is called with
    its arguments in that order, whatever it names them); `allowed_globals`: names the reference's
    own function reads from its notebook (`np`, `sigmoid`, a constant), which a student may read as well.
    """
    top_level: set[str] = set()
    definition: tuple[int, ast.FunctionDef] | None = None
    budget = MAX_TOTAL
    for cell in cells:
        if len(cell["source"]) > min(MAX_CELL, budget) or cell_source.writefile(cell["source"]) is not None:
            continue
        budget -= len(cell["source"])
        try:
            tree, _ = cell_source.parse_cell(cell["source"], f"<cell {cell['index']}>")
        except (cell_source.CellSyntaxError, RecursionError, MemoryError, ValueError):
            continue
        if tree is None:
            continue
        for statement in tree.body:
            top_level |= _values_bound(statement)
        if function in cell["source"]:  # a cell that never names the function cannot define it
            for node in ast.walk(tree):
                if isinstance(node, ast.FunctionDef) and node.name == function:
                    definition = (cell["index"], node)
    if definition is None:
        return None
    cell_index, node = definition
    positional = [argument.arg for argument in node.args.posonlyargs + node.args.args]
    reference_names = dict(zip(positional, parameters))
    parameters = {argument.arg for argument in ast.walk(node.args) if isinstance(argument, ast.arg)}
    bound = _bound(node.body)
    declared_global = {name for statement in ast.walk(node) if isinstance(statement, ast.Global) for name in statement.names}
    free = (top_level - bound - parameters - set(dir(builtins)) - set(allowed_globals)) | (declared_global & top_level)
    read_names = sorted({name.id for name in _walk(node.body) if isinstance(name, ast.Name)
                         and isinstance(name.ctx, ast.Load) and name.id in free})
    rebound = _bound(node.body, augmented=False)
    return SourceFacts(frozenset(bound - declared_global), tuple(read_names),
                       _changed_before(node, cell_index, reference_names, rebound, set(steps)))


def allowed_globals(namespace: dict, function: str) -> frozenset[str]:
    """The global names the reference's own `function` (and what it defines inside) reads."""
    code = getattr(namespace.get(function), "__code__", None)
    names: set[str] = set()
    pending = [code] if code is not None else []
    while pending:
        current = pending.pop()
        names.update(current.co_names)
        pending.extend(const for const in current.co_consts if hasattr(const, "co_names"))
    return frozenset(names)


def _walk(statements: Iterable[ast.AST]):
    """Every node under `statements`, nested function and class scopes included (they read the same globals)."""
    for statement in statements:
        yield from ast.walk(statement)


def _values_bound(statement: ast.stmt) -> set[str]:
    """Names a top-level statement binds to values: not definitions or imports (functions, classes, modules).

    Only assignment targets are looked into (and the blocks of compound statements), not the
    expressions around them: a name bound inside a comprehension or a lambda is not the notebook's.
    """
    found: set[str] = set()
    pending: list[ast.AST] = [statement]
    while pending:
        node = pending.pop()
        if isinstance(node, ast.Assign):
            # `f = lambda a: ...` defines a function, as `def` does.
            targets = [] if isinstance(node.value, ast.Lambda) else list(node.targets)
        elif isinstance(node, ast.AugAssign | ast.AnnAssign | ast.For | ast.AsyncFor):
            targets = [node.target]
        elif isinstance(node, ast.With | ast.AsyncWith):
            targets = [item.optional_vars for item in node.items if item.optional_vars is not None]
        else:
            targets = []
        for target in targets:
            found.update(name.id for name in ast.walk(target) if isinstance(name, ast.Name))
        for block in ("body", "orelse", "finalbody", "handlers", "cases"):
            pending.extend(child for child in getattr(node, block, None) or []
                           if not isinstance(child, _SCOPES + (ast.Import, ast.ImportFrom)))
    return found


def _bound(statements: list[ast.stmt], augmented: bool = True) -> set[str]:
    """Names bound in a function body, outside its nested scopes (`augmented`: `name += e` counts)."""
    names: set[str] = set()
    pending: list[ast.AST] = list(statements)
    while pending:
        node = pending.pop()
        if isinstance(node, ast.AugAssign) and not augmented:
            pending.append(node.value)
            continue
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store | ast.Del):
            names.add(node.id)
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.add(node.name)
            continue
        elif isinstance(node, ast.alias):
            names.add((node.asname or node.name).split(".")[0])
        elif isinstance(node, ast.ExceptHandler) and node.name:
            names.add(node.name)
        elif isinstance(node, ast.Lambda):
            continue
        pending.extend(ast.iter_child_nodes(node))
    return names


def _changed_parameter(statement: ast.stmt, parameters: Iterable[str]) -> str | None:
    """The parameter whose array this statement changes in place (`p -= e`, `p[i] = e`, `p[:] += e`), if any."""
    if isinstance(statement, ast.AugAssign):
        target = statement.target
    elif isinstance(statement, ast.Assign) and len(statement.targets) == 1:
        target = statement.targets[0]
        if not isinstance(target, ast.Subscript):
            return None
    else:
        return None
    while isinstance(target, ast.Subscript):
        target = target.value
    return target.id if isinstance(target, ast.Name) and target.id in parameters else None


def _changed_before(function: ast.FunctionDef, cell: int, parameters: dict[str, str], rebound: set[str],
                    steps: set[str]) -> dict[str, tuple[Change, ...]]:
    """Each step whose assignment reads a parameter after a statement changed it in place.

    After means later in the text, or anywhere in a loop that holds the change (the next
    iteration reads the changed array); the run says whether the argument really changed. `parameters` maps the
    student's positional parameter names to the reference's; a parameter rebound to another
    object (`w = w.copy()`) is not followed.
    """
    changeable = {name for name in parameters if name not in rebound}
    changes: list[tuple[Change, tuple[int, int], list[tuple[int, int]]]] = []
    assignments: list[tuple[str, ast.stmt, list[tuple[int, int]]]] = []

    def visit(statements: list[ast.stmt], loops: list[tuple[int, int]]) -> None:
        for statement in statements:
            if isinstance(statement, _SCOPES):
                continue
            changed = _changed_parameter(statement, changeable)
            if changed is not None:
                change = Change(parameters[changed], changed, cell, statement.lineno)
                changes.append((change, _span(statement), loops))
            if isinstance(statement, ast.Assign | ast.AugAssign | ast.AnnAssign):
                targets = statement.targets if isinstance(statement, ast.Assign) else [statement.target]
                for target in targets:
                    for name in ast.walk(target):
                        if isinstance(name, ast.Name) and name.id in steps:
                            assignments.append((name.id, statement, loops))
            inner = loops + [_span(statement)] if isinstance(statement, _LOOPS) else loops
            for block in ("body", "orelse", "finalbody"):
                visit(getattr(statement, block, []) or [], inner)
            for handler in getattr(statement, "handlers", []) or []:
                visit(handler.body, inner)
            for case in getattr(statement, "cases", []) or []:
                visit(case.body, inner)

    visit(function.body, [])
    found: dict[str, list[Change]] = {}
    for step, statement, loops in assignments:
        value = getattr(statement, "value", None)
        if value is None:
            continue
        reads = {name.id for name in ast.walk(value) if isinstance(name, ast.Name)}
        for change, span, change_loops in changes:
            if change.written not in reads or statement.lineno == change.line:
                continue
            shared_loop = any(loop in loops for loop in change_loops)
            if span[1] < statement.lineno or shared_loop:
                found.setdefault(step, [])
                if change not in found[step]:
                    found[step].append(change)
    return {step: tuple(listed) for step, listed in found.items()}


def _span(statement: ast.stmt) -> tuple[int, int]:
    return statement.lineno, statement.end_lineno or statement.lineno
