"""Capture of a function's local variables when it returns or raises, and per loop iteration, without tracing.

The graded function's body is wrapped, at the AST level, in `try: ... finally: hook()`; the
hook reads the caller's frame, so a student who shadows `locals` cannot break it.
Steps captured per iteration (rubric `capture = "iteration"`) add one more transform: the body
of every loop that assigns such a step (and of every loop around one) is wrapped so the hook
learns when an iteration begins, ends, or raises. An iteration's values are those of the steps
assigned directly in that loop's body, read when the iteration ends (after `continue` or
`break` too). In the iteration that raises, a step counts as computed when the statement that
gives it its last value of the iteration has run: each such statement is followed by a marker
call, and the handler reads the marked steps' values then (the place of the crash is kept too,
"record 3"). A step assigned again later in the body is marked only after that later statement
(its earlier value is not yet the iteration's), branches of one `if` excepted.
When the function returns or raises, the hook also learns which steps its loops assign, so a
step with no value per iteration is told apart from one computed without a loop.
The same transform serves the student's code (in the sandbox child) and the reference (in the
grader), so both are observed the same way; only what each recorder keeps differs.
"""

from __future__ import annotations

import ast
import sys
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from typing import Any

HOOK_NAME = "__backprop_grader_capture__"
# Iterations one step may record on one case: beyond, the sequence is cut and reported as too long.
MAX_ITERATIONS = 2000
_LOOPS = (ast.For, ast.While, ast.AsyncFor)
_SCOPES = (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef)
# The fields of a statement that hold statements (handlers and match cases hold theirs one level down).
_BLOCKS = ("body", "orelse", "finalbody")


def instrument(tree: ast.Module, function: str, iteration_steps: Iterable[str] = ()) -> bool:
    """Wrap every definition of `function` in `tree` in place; True when one was found."""
    names = frozenset(iteration_steps)
    definitions = [node for node in _statements(tree.body) if isinstance(node, ast.FunctionDef) and node.name == function]
    for node in definitions:
        looped = _instrument_loops(node, names) if names else ()
        _wrap(node, looped)
    return bool(definitions)


def _statements(block: list[ast.stmt]) -> Iterator[ast.stmt]:
    """Every statement in `block` and in the blocks nested in it, outermost first.

    A definition is a statement, and an expression never holds one: only the statement lists
    are walked, not every node (the whole-tree walk was most of a child's instrumenting).
    """
    pending = deque(block)
    while pending:
        statement = pending.popleft()
        yield statement
        for field in _BLOCKS:
            inner = getattr(statement, field, None)
            if inner:
                pending.extend(inner)
        for part in getattr(statement, "handlers", None) or getattr(statement, "cases", None) or ():
            pending.extend(part.body)


def _wrap(node: ast.FunctionDef, looped: tuple[str, ...]) -> None:
    # New nodes take the place of the body's first and last lines; the student's own nodes keep
    # theirs, so tracebacks still point at the student's lines (and nothing else is walked again).
    first, last = node.body[0], node.body[-1]
    name = ast.copy_location(ast.Name(HOOK_NAME, ast.Load()), last)
    call = ast.copy_location(ast.Call(func=name, args=[ast.Constant(looped)], keywords=[]), last)
    report = ast.fix_missing_locations(ast.copy_location(ast.Expr(call), last))
    wrapper = ast.Try(body=node.body, handlers=[], orelse=[], finalbody=[report])
    wrapper.lineno, wrapper.col_offset = first.lineno, first.col_offset
    wrapper.end_lineno, wrapper.end_col_offset = last.end_lineno, last.end_col_offset
    node.body = [wrapper]


def assigned_names(statements: Iterable[ast.stmt]) -> set[str]:
    """Names bound by plain, augmented or annotated assignment among `statements`, not inside a nested loop or scope."""
    names: set[str] = set()
    pending = list(statements)
    while pending:
        node = pending.pop()
        if isinstance(node, ast.Assign):
            names.update(target.id for target in node.targets if isinstance(target, ast.Name))
        elif isinstance(node, ast.AugAssign | ast.AnnAssign | ast.NamedExpr) and isinstance(node.target, ast.Name):
            names.add(node.target.id)
        if isinstance(node, _LOOPS + _SCOPES):
            continue
        pending.extend(ast.iter_child_nodes(node))
    return names


def _nested_loops(statements: list[ast.stmt]) -> list[ast.For | ast.While | ast.AsyncFor]:
    """Every loop inside `statements`, at any depth, not inside a nested scope."""
    found, pending = [], list(statements)
    while pending:
        node = pending.pop()
        if isinstance(node, _SCOPES):
            continue
        if isinstance(node, _LOOPS):
            found.append(node)
        pending.extend(ast.iter_child_nodes(node))
    return found


def _instrument_loops(function: ast.FunctionDef, steps: frozenset[str]) -> tuple[str, ...]:
    """Wrap the body of each loop of `function` that assigns a step of `steps`, or holds such a loop; the steps
    some loop assigns."""
    counter = iter(range(1, 1_000_000))
    looped: set[str] = set()

    def visit(node: ast.AST, chain: tuple[int, ...]) -> bool:
        """Instrument the loops under `node`; True when one of them (or `node`) assigns a step."""
        wanted = False
        for child in ast.iter_child_nodes(node):
            if isinstance(child, _SCOPES):
                continue
            if isinstance(child, _LOOPS):
                wanted |= loop(child, chain)
            else:
                wanted |= visit(child, chain)
        return wanted

    def loop(node: ast.For | ast.While | ast.AsyncFor, chain: tuple[int, ...]) -> bool:
        number = next(counter)
        inner = chain + (number,)
        # A step assigned in this loop and in a loop inside it (reset per epoch, accumulated per record) belongs to
        # the innermost one.
        deeper = {name for inner_loop in _nested_loops(node.body) for name in assigned_names(inner_loop.body)}
        names = tuple(sorted((assigned_names(node.body) & steps) - deeper))
        nested = visit(ast.Module(body=node.body, type_ignores=[]), inner)
        if not (names or nested):
            return False
        looped.update(names)
        if names:
            _mark_assignments(node.body, frozenset(names), inner, frozenset())
        _wrap_iteration(node, inner, names)
        # The else branch runs once after the loop: it belongs to the enclosing level.
        visit(ast.Module(body=node.orelse, type_ignores=[]), chain)
        return True

    visit(function, ())
    return tuple(sorted(looped))


def _mark_assignments(block: list[ast.stmt], names: frozenset[str], chain: tuple[int, ...],
                      later: frozenset[str]) -> None:
    """After each statement of `block` that gives a step of `names` its last value of the iteration, insert
    `hook.mark(chain, name)`; `later` holds the steps assigned by statements that may still run after `block`."""
    marked: list[ast.stmt] = []
    for position, statement in enumerate(block):
        after = later | (assigned_names(block[position + 1:]) & names)
        marked.append(statement)
        if isinstance(statement, ast.If):
            _mark_assignments(statement.body, names, chain, after)
            _mark_assignments(statement.orelse, names, chain, after)
        elif isinstance(statement, ast.With | ast.AsyncWith):
            _mark_assignments(statement.body, names, chain, after)
        elif isinstance(statement, ast.Try | ast.TryStar):
            # A handler runs instead of the rest of the body, as an `else` branch does: it marks its own assignments.
            closing = after | (assigned_names(statement.finalbody) & names)
            _mark_assignments(statement.body, names, chain, closing | (assigned_names(statement.orelse) & names))
            for handler in statement.handlers:
                _mark_assignments(handler.body, names, chain, closing)
            _mark_assignments(statement.orelse, names, chain, closing)
            _mark_assignments(statement.finalbody, names, chain, after)
        elif isinstance(statement, ast.Match):
            for case in statement.cases:
                _mark_assignments(case.body, names, chain, after)
        elif not isinstance(statement, _LOOPS + _SCOPES):
            for name in sorted((assigned_names([statement]) & names) - after):
                marked.append(_hook_call("mark", statement, chain, name))
    block[:] = marked


def _hook_call(method: str, place: ast.AST, *arguments: Any) -> ast.Expr:
    """`hook.method(*arguments)` at the place of `place`, so line numbers stay the student's."""
    target = ast.Attribute(ast.Name(HOOK_NAME, ast.Load()), method, ast.Load())
    expression = ast.Call(func=target, args=[ast.Constant(argument) for argument in arguments], keywords=[])
    return ast.fix_missing_locations(ast.copy_location(ast.Expr(expression), place))


def _wrap_iteration(node: ast.For | ast.While | ast.AsyncFor, chain: tuple[int, ...], names: tuple[str, ...]) -> None:
    """`hook.begin(chain); try: body except: hook.crash(chain); raise finally: hook.end(chain, names)`."""
    first, last = node.body[0], node.body[-1]

    def call(method: str, *arguments: Any) -> ast.Expr:
        return _hook_call(method, last, *arguments)

    handler = ast.ExceptHandler(type=ast.Name("BaseException", ast.Load()), name=None,
                                body=[call("crash", chain), ast.copy_location(ast.Raise(), last)])
    ast.copy_location(handler, last)
    wrapper = ast.Try(body=node.body, handlers=[handler], orelse=[], finalbody=[call("end", chain, names)])
    wrapper.lineno, wrapper.col_offset = first.lineno, first.col_offset
    wrapper.end_lineno, wrapper.end_col_offset = last.end_lineno, last.end_col_offset
    begin = ast.copy_location(call("begin", chain), first)
    node.body = [begin, wrapper]
    ast.fix_missing_locations(node)


class Recorder:
    """The hook placed in the namespace: the locals of the outermost finished call, and per-iteration values.

    `keep` turns a value into what is kept of it at the moment it is read (the child encodes it
    into its value buffer; the reference copies arrays, which later iterations may change in place).
    """

    def __init__(self, keep: Callable[[Any], Any] | None = None) -> None:
        self.snapshot: dict | None = None
        self._keep = keep or _copied
        self._reset()

    def _reset(self) -> None:
        self.iterations: dict[str, list] = {}
        """Step name -> its kept value at the end of each iteration, in execution order."""
        self.positions: dict[str, list[tuple[int, ...]]] = {}
        """Step name -> each recorded iteration's number in every enclosing loop, outermost first."""
        self.raised_at: tuple[int, ...] | None = None
        """The iteration numbers (outermost first) of the loop iteration where the call raised, if it did."""
        self.overflow: set[str] = set()
        self.partial: set[str] = set()
        """Steps whose last kept value is from the iteration that raised (assigned there before the raise)."""
        self.looped: frozenset[str] = frozenset()
        """The steps that the loops of the last finished call's function assign."""
        self._counts: dict[int, int] = {}
        self._marked: dict[tuple[int, ...], set[str]] = {}
        self._crashed: set[tuple[int, ...]] = set()
        self._raised_in: tuple[int, ...] = ()

    def __call__(self, looped: tuple[str, ...] = ()) -> None:
        self.snapshot = dict(sys._getframe(1).f_locals)
        self.looped = frozenset(looped)

    def begin(self, chain: tuple[int, ...]) -> None:
        number = chain[-1]
        self._counts[number] = self._counts.get(number, 0) + 1
        # A nested loop counts its iterations afresh within each iteration of the loop around it.
        for inner in [key for key in self._counts if key > number and key not in chain]:
            del self._counts[inner]
        self._marked[chain] = set()
        self.began(chain, sys._getframe(1).f_locals)

    def began(self, chain: tuple[int, ...], frame_locals: dict) -> None:
        """What a subclass keeps at the start of an iteration (nothing here)."""

    def mark(self, chain: tuple[int, ...], name: str) -> None:
        """`name` has its value of this iteration: if the iteration raises later, that value is kept."""
        self._marked[chain].add(name)

    def crash(self, chain: tuple[int, ...]) -> None:
        if self.raised_at is None:  # the innermost loop's handler runs first, then those of the loops around it
            self.raised_at = tuple(self._counts.get(number, 0) for number in chain)
            self._raised_in = chain
        elif chain in self._crashed or chain != self._raised_in[: len(chain)]:
            return  # after an exception the function caught, nothing more is kept (as in `end`)
        self._crashed.add(chain)
        frame_locals = sys._getframe(1).f_locals
        marked = [name for name in sorted(self._marked.get(chain, ())) if name in frame_locals]
        self.partial.update(self._keep_values(chain, marked, frame_locals))

    def end(self, chain: tuple[int, ...], names: tuple[str, ...]) -> None:
        if self.raised_at is not None:
            return
        frame_locals = sys._getframe(1).f_locals
        self._keep_values(chain, names, frame_locals)
        self.ended(chain, names, frame_locals)

    def _keep_values(self, chain: tuple[int, ...], names: Iterable[str], frame_locals: dict) -> list[str]:
        """Keep the values of `names` for this iteration; the names kept (not cut by MAX_ITERATIONS)."""
        position = tuple(self._counts.get(number, 0) for number in chain)
        done = []
        for name in names:
            kept = self.iterations.setdefault(name, [])
            if len(kept) >= MAX_ITERATIONS:
                self.overflow.add(name)
                continue
            kept.append(self._keep(frame_locals.get(name)))
            self.positions.setdefault(name, []).append(position)
            done.append(name)
        return done

    def ended(self, chain: tuple[int, ...], names: tuple[str, ...], frame_locals: dict) -> None:
        """What a subclass keeps at the end of an iteration (nothing here)."""

    def take(self) -> dict | None:
        snapshot, self.snapshot = self.snapshot, None
        return snapshot

    def take_iterations(self) -> tuple[dict[str, list], dict[str, list[tuple[int, ...]]], tuple[int, ...] | None, set[str]]:
        """(values, positions, raised_at, overflowing step names) of the last call, then forget them."""
        taken = (self.iterations, self.positions, self.raised_at, self.overflow)
        self._reset()
        return taken


class LocalsRecorder(Recorder):
    """The reference's recorder: besides the step values, its whole locals at the end of each iteration, and
    each step's own value when the iteration began (what `del_w += ...` adds to)."""

    def __init__(self, steps: Iterable[str]) -> None:
        self._steps = tuple(steps)
        super().__init__()

    def _reset(self) -> None:
        super()._reset()
        self.scopes: dict[str, list[dict]] = {}
        self.before: dict[str, list[Any]] = {}
        self._began: dict[tuple[int, ...], dict] = {}

    def began(self, chain: tuple[int, ...], frame_locals: dict) -> None:
        self._began[chain] = {name: _copied(frame_locals[name]) for name in self._steps if name in frame_locals}

    def ended(self, chain: tuple[int, ...], names: tuple[str, ...], frame_locals: dict) -> None:
        if not names:
            return
        scope = {name: _copied(value) for name, value in frame_locals.items()}
        began = self._began.get(chain, {})
        for name in names:
            self.scopes.setdefault(name, []).append(scope)
            self.before.setdefault(name, []).append(began.get(name))


def _copied(value: Any) -> Any:
    copy = getattr(value, "copy", None)
    return copy() if callable(copy) and not isinstance(value, type) else value
