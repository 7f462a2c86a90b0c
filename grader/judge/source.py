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
import functools
from collections import deque
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

from grader.sandbox import source as cell_source
from grader.sandbox.wire import Cell

# Parsing is cheap, but a notebook is untrusted: a cell longer than this (a hundred times a real one) is not
# read, and its facts are lost (the function's, if it is defined there: then the notebook has no facts).
MAX_CELL = 100_000
# And no more than this much code in all is read from one notebook (a few tenths of a second at worst).
MAX_TOTAL = 300_000
_SCOPES = (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef)
_LOOPS = (ast.For, ast.While, ast.AsyncFor)
_HOLDERS = (ast.stmt, ast.excepthandler, ast.match_case)
_BUILTINS = frozenset(dir(builtins))


@dataclass(frozen=True)
class Change:
    """A statement of the graded function that changes a parameter's array in place (`weights -= ...`)."""

    parameter: str
    """The parameter as the reference names it (the run reports changed arguments by those names)."""
    written: str
    """The parameter as the student's function names it."""
    cell: int
    line: int


class SourceFacts:
    """What the graded function's last definition in the notebook says about itself.

    Each fact is worked out when first asked for, and remembered: judging a right submission
    asks only which notebook globals it reads (usually none, which needs no cell but the
    function's), while the steps it binds and its in-place changes matter only when a step
    has no value or an argument changed. Read-only: nothing sets a fact from outside.
    """

    def __init__(self, node: ast.FunctionDef, cell: int, parameters: Sequence[str], steps: Iterable[str],
                 allowed_globals: Iterable[str], notebook: _Notebook) -> None:
        self._node, self._cell, self._steps, self._notebook = node, cell, frozenset(steps), notebook
        positional = [argument.arg for argument in node.args.posonlyargs + node.args.args]
        self._reference_names = dict(zip(positional, parameters))
        self._parameters = {argument.arg for argument in ast.walk(node.args) if isinstance(argument, ast.arg)}
        self._allowed = frozenset(allowed_globals)
        self._bound, self._rebound, self._declared_global, self._loaded = _names(node.body)

    @functools.cached_property
    def bound(self) -> frozenset[str]:
        """Every name the function binds (assignments, loop targets, `with ... as`, imports, nested definitions)."""
        return frozenset(self._bound - self._declared_global)

    @functools.cached_property
    def globals_read(self) -> tuple[str, ...]:
        """Names bound by the notebook's top-level code (values, not definitions) that the function reads."""
        local = self._bound | self._parameters | _BUILTINS | self._allowed
        # Only a name the function reads and does not make its own can be a notebook global it reads: when
        # there is none (most functions), no other cell needs to be parsed.
        candidates = {name for name in self._loaded if name not in local or name in self._declared_global}
        return tuple(sorted(self._notebook.values_bound(candidates))) if candidates else ()

    @functools.cached_property
    def changed_before(self) -> dict[str, tuple[Change, ...]]:
        """Step -> the in-place changes of a parameter its assignment reads after (in order, or in the same loop)."""
        return _changed_before(self._node, self._cell, self._reference_names, self._rebound, self._steps)


class _Notebook:
    """The cells that may be read, each parsed when first needed (or never)."""

    def __init__(self, cells: Sequence[Cell]) -> None:
        self.cells: list[Cell] = []
        budget = MAX_TOTAL
        for cell in cells:
            if len(cell["source"]) > min(MAX_CELL, budget) or cell_source.writefile(cell["source"]) is not None:
                continue
            budget -= len(cell["source"])
            self.cells.append(cell)
        self._trees: dict[int, ast.Module | None] = {}

    def tree(self, position: int) -> ast.Module | None:
        """The parsed cell at `position` of `cells`, or None when it is not Python or does not parse."""
        if position not in self._trees:
            cell = self.cells[position]
            try:
                self._trees[position], _ = cell_source.parse_cell(cell["source"], f"<cell {cell['index']}>")
            except (cell_source.CellSyntaxError, RecursionError, MemoryError, ValueError):
                self._trees[position] = None
        return self._trees[position]

    def values_bound(self, wanted: set[str]) -> set[str]:
        """Those of `wanted` that some cell's top-level code binds to a value (`_values_bound`)."""
        found: set[str] = set()
        for position in range(len(self.cells)):
            tree = self.tree(position)
            for statement in tree.body if tree is not None else ():
                found |= _values_bound(statement) & wanted
                if found == wanted:
                    return found
        return found


def read(cells: Sequence[Cell], function: str, parameters: Iterable[str], steps: Iterable[str],
         allowed_globals: Iterable[str] = ()) -> SourceFacts | None:
    """The facts of `function` in these cells, or None when it cannot be found or read.

    `parameters`: the reference's parameter names, in order (the student's function is called with
    its arguments in that order, whatever it names them); `allowed_globals`: names the reference's
    own function reads from its notebook (`np`, `sigmoid`, a constant), which a student may read as well.
    """
    notebook = _Notebook(cells)
    definition: tuple[int, ast.FunctionDef] | None = None
    for position, cell in enumerate(notebook.cells):
        if function not in cell["source"] or "def" not in cell["source"]:  # it cannot define the function
            continue
        tree = notebook.tree(position)
        for node in _statements(tree) if tree is not None else ():
            if isinstance(node, ast.FunctionDef) and node.name == function:
                definition = (cell["index"], node)
    if definition is None:
        return None
    cell_index, node = definition
    return SourceFacts(node, cell_index, list(parameters), steps, allowed_globals, notebook)


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


def _statements(tree: ast.AST) -> Iterator[ast.AST]:
    """The statements of `tree` (and the handlers and match cases holding them), in the order `ast.walk` meets them.

    A definition is a statement, never part of an expression: leaving expressions out finds the same
    ones, in the same order, at a fraction of the cost.
    """
    pending = deque([tree])
    while pending:
        node = pending.popleft()
        pending.extend(child for child in ast.iter_child_nodes(node) if isinstance(child, _HOLDERS))
        yield node


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


def _names(statements: list[ast.stmt]) -> tuple[set[str], set[str], set[str], set[str]]:
    """A function body's names, in one walk: (bound, rebound, declared global, read).

    Bound: names bound outside its nested scopes (assignments, loop targets, `with ... as`,
    imports, nested definitions, `except ... as`); rebound: the same without the targets of
    augmented assignments (`w -= e` changes `w`, it does not bind a new object to it). Declared
    global and read (a `Name` loaded): anywhere in the body, nested scopes included, since they
    read the same globals.
    """
    bound: set[str] = set()
    rebound: set[str] = set()
    declared: set[str] = set()
    read: set[str] = set()
    # (node, inside a nested scope, inside the target of an augmented assignment)
    pending: list[tuple[ast.AST, bool, bool]] = [(statement, False, False) for statement in statements]
    while pending:
        node, nested, augmented = pending.pop()
        if isinstance(node, ast.Name):
            if isinstance(node.ctx, ast.Load):
                read.add(node.id)
            elif not nested:
                bound.add(node.id)
                if not augmented:
                    rebound.add(node.id)
            continue
        if isinstance(node, ast.Global):
            declared.update(node.names)
        if not nested:
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                bound.add(node.name)
                rebound.add(node.name)
                nested = True
            elif isinstance(node, ast.Lambda):
                nested = True
            elif isinstance(node, ast.alias) or (isinstance(node, ast.ExceptHandler) and node.name):
                name = (node.asname or node.name).split(".")[0] if isinstance(node, ast.alias) else node.name
                bound.add(name)
                if not augmented:
                    rebound.add(name)
            elif isinstance(node, ast.AugAssign):
                pending.append((node.target, False, True))
                pending.append((node.value, False, augmented))
                continue
        # The children, as ast.iter_child_nodes gives them, less those with no fields (a Name's Load or Store, an
        # operator): they bind and read nothing, and were most of the nodes walked.
        for field in node._fields:
            child = getattr(node, field, None)
            if isinstance(child, list):
                pending.extend((item, nested, augmented) for item in child if isinstance(item, ast.AST) and item._fields)
            elif isinstance(child, ast.AST) and child._fields:
                pending.append((child, nested, augmented))
    return bound, rebound, declared, read


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
