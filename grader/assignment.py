"""Loading an assignment from the instructor's solutions folder: rubric, reference, case module.

Everything here is instructor code and runs in the grader's own process, which never runs
student code (that happens in the sandbox's fork server, started before any of this).
"""

from __future__ import annotations

import ast
import builtins
import contextlib
import dataclasses
import importlib.util
import inspect
import io
import tomllib
import types
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from grader import capture, notebook
from grader.errors import ConfigError, InternalError
from grader.models import FINAL, ITERATION, Limits, Step, Tolerance, Words

RUBRIC = "rubric.toml"


@dataclass(frozen=True)
class Rubric:
    """An assignment's grading rules, from its rubric.toml."""

    title: str
    notebook: str
    """File name of the reference notebook (and of the stub)."""
    function: str
    """The graded function."""
    returns: tuple[str, ...]
    """Step names of the values the graded function returns, in order."""
    steps: tuple[Step, ...]
    tolerance: Tolerance
    carried_forward_credit: float
    seed: int
    hidden_cases: int
    cases_module: str
    limits: Limits
    misconceptions: str | None = None
    """File of this folder holding the misconception catalogue ([feedback] table), if any."""
    oracle: str | None = None
    """Python file of this folder computing the returned values independently ([feedback] table), if any."""
    iteration: tuple[str, ...] = ("iteration",)
    """The word for one iteration of the graded function's loop ("record"), outer loop first when nested."""
    updates: tuple[str, ...] = ()
    """Arguments the function is meant to change in place: no warning for them; a step so named is their value after the call."""
    words: Words = field(default_factory=lambda: Words())
    """The exercise's words for the parts of a value, in shape messages."""

    @property
    def max_score(self) -> float:
        return float(sum(step.points for step in self.steps))

    @property
    def step_names(self) -> tuple[str, ...]:
        return tuple(step.name for step in self.steps)

    @property
    def iteration_steps(self) -> tuple[str, ...]:
        """The steps captured per iteration."""
        return tuple(step.name for step in self.steps if step.per_iteration)

    def label(self, position: tuple[int, ...] | list[int]) -> str:
        """An iteration in the rubric's words: "record 3", "epoch 2, record 3"."""
        numbers = tuple(position)
        if len(numbers) > len(self.iteration):  # loops of the student's own around the rubric's: the innermost count
            numbers = numbers[-len(self.iteration):]
        return ", ".join(f"{word} {number}" for word, number in zip(self.iteration, numbers))


@dataclass(frozen=True)
class Reference:
    """The reference solution, run in the grader's process."""

    namespace: dict
    """Globals of the reference notebook after it ran."""
    parameters: tuple[str, ...]
    """Parameter names of the graded function, in order."""
    formulas: dict[str, types.CodeType]
    """Each step's expression: the right-hand side of its last assignment in the reference function (`name += e`
    read as `name + e`), the return expression for a returned name, or the rubric's `carried` formula."""
    accumulating: frozenset[str]
    """Steps whose formula reads the step's own earlier value (`del_w += ...`)."""
    local_names: frozenset[str]
    """Every name the reference function binds: what formulas may use besides parameters and globals."""
    cases: types.ModuleType
    """The hidden-case definition module."""
    recorder: capture.LocalsRecorder

    def call(self, function: str, arguments: dict[str, Any]) -> tuple[Any, dict, capture.LocalsRecorder]:
        """Call the reference function; return its result, its locals at return, and what its loops recorded."""
        self.recorder.take()
        self.recorder.take_iterations()
        returned = self.namespace[function](*(arguments[name] for name in self.parameters))
        return returned, self.recorder.take() or {}, self.recorder

    def known_names(self) -> set[str]:
        """Names a formula may use: parameters, the reference function's locals, the notebook's globals, builtins."""
        return set(self.parameters) | set(self.local_names) | set(self.namespace) | set(dir(builtins))


@dataclass(frozen=True)
class Assignment:
    """An assignment ready to grade against."""

    name: str
    directory: Path
    rubric: Rubric
    reference: Reference


def available(solutions: Path) -> list[str]:
    """Names of the assignments in a solutions folder (sub-folders holding a rubric)."""
    return sorted(path.parent.name for path in solutions.glob(f"*/{RUBRIC}"))


def load(solutions: Path, name: str) -> Assignment:
    """Load assignment `name` from `solutions`; ConfigError when it is missing or malformed."""
    directory = solutions / name
    if not (directory / RUBRIC).is_file():
        names = ", ".join(available(solutions)) or "none"
        raise ConfigError(f"no assignment {name!r} in {solutions} (assignments there: {names})")
    rubric = load_rubric(directory / RUBRIC)
    return Assignment(name, directory, rubric, _load_reference(directory, rubric))


def load_rubric(path: Path) -> Rubric:
    """Parse and check a rubric.toml."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as error:
        raise ConfigError(f"cannot read rubric {path}: {error}") from None
    try:
        head, cases, tolerance = data["assignment"], data["cases"], data["tolerance"]
        scoring, limits, feedback = data.get("scoring", {}), data.get("limits", {}), data.get("feedback", {})
        steps = tuple(_step(step) for step in data["steps"])
        words = data.get("words", {})
        iteration = head.get("iteration", "iteration")
        rubric = Rubric(
            title=str(head["title"]),
            notebook=str(head["notebook"]),
            function=str(head["function"]),
            returns=tuple(str(name) for name in head["returns"]),
            steps=steps,
            tolerance=Tolerance(float(tolerance["rtol"]), float(tolerance["atol"])),
            carried_forward_credit=float(scoring.get("carried_forward_credit", 1.0)),
            seed=int(cases["seed"]),
            hidden_cases=int(cases["hidden"]),
            cases_module=str(cases["module"]),
            limits=Limits(
                timeout=float(limits.get("timeout", 10.0)),
                statement=float(limits.get("statement", 1.0)),
                call=float(limits.get("call", 2.0)),
                memory_mb=int(limits.get("memory_mb", 1024)),
                output_bytes=int(limits.get("output_bytes", 1024 * 1024)),
            ),
            misconceptions=_optional_name(feedback, "misconceptions"),
            oracle=_optional_name(feedback, "oracle"),
            iteration=(str(iteration),) if isinstance(iteration, str) else tuple(str(word) for word in iteration),
            updates=tuple(str(name) for name in head.get("updates", [])),
            words=Words(**{key: str(words[key]) for key in ("unit", "row", "column") if key in words}),
        )
    except (KeyError, TypeError, ValueError, AttributeError) as error:
        raise ConfigError(f"rubric {path} is malformed: missing or bad {error}") from None
    names = rubric.step_names
    if len(set(names)) != len(names) or not set(rubric.returns) <= set(names):
        raise ConfigError(f"rubric {path}: step names must be unique and include every returned name")
    unknown = set(data.get("words", {})) - {"unit", "row", "column"}
    if unknown or not rubric.iteration or not all(rubric.iteration):
        raise ConfigError(f"rubric {path}: [words] takes unit, row, column; iteration is a word or a list of words")
    if set(rubric.returns) & set(rubric.iteration_steps):
        raise ConfigError(f"rubric {path}: a returned step is captured once, not per iteration")
    if not 0.0 <= rubric.carried_forward_credit <= 1.0:
        raise ConfigError(f"rubric {path}: carried_forward_credit must be between 0 and 1")
    return rubric


def _step(table: dict) -> Step:
    capture = str(table.get("capture", FINAL))
    if capture not in (FINAL, ITERATION):
        raise ValueError(f"capture {capture!r} (final or iteration)")
    carried = table.get("carried")
    return Step(str(table["name"]), float(table["points"]), str(table.get("hint", "")), capture,
                None if carried is None else str(carried))


def _optional_name(table: dict, key: str) -> str | None:
    return None if table.get(key) is None else str(table[key])


def _load_reference(directory: Path, rubric: Rubric) -> Reference:
    path = directory / rubric.notebook
    try:
        book = notebook.read(path.resolve())  # the instructor's own file: links are followed
    except notebook.InvalidNotebook as error:
        raise ConfigError(f"reference notebook {path} {error}") from None
    namespace: dict = {"__name__": "__main__"}
    recorder = capture.LocalsRecorder(rubric.iteration_steps)
    namespace[capture.HOOK_NAME] = recorder
    definition: ast.FunctionDef | None = None
    with contextlib.redirect_stdout(io.StringIO()):
        for cell in book.cells:
            filename = f"<reference cell {cell.index}>"
            try:
                tree = ast.parse(cell.source, filename)
                definition = next(iter(_function_definitions(tree, rubric.function)[-1:]), definition)
                capture.instrument(tree, rubric.function, rubric.iteration_steps)
                exec(compile(tree, filename, "exec"), namespace)
            except Exception as error:
                raise InternalError(f"the reference notebook {path} fails in cell {cell.index}: {error!r}") from None
    function = namespace.get(rubric.function)
    if not callable(function) or definition is None:
        raise ConfigError(f"the reference notebook {path} does not define {rubric.function}()")
    parameters = tuple(inspect.signature(function).parameters)
    assignments = _assignments(definition, rubric)
    where = f"the reference {rubric.function}()"
    unknown = [name for name in rubric.updates if name not in parameters]
    if unknown:
        raise ConfigError(f"rubric updates {', '.join(unknown)}, which {where} does not take as parameters")
    missing = [step.name for step in rubric.steps if step.name not in assignments and step.carried is None]
    if missing:
        raise ConfigError(f"{where} assigns no value to step(s) {', '.join(missing)} "
                          "(nor does the rubric give them a `carried` formula)")
    for step in rubric.steps:
        found = assignments.get(step.name)
        if step.per_iteration and (found is None or not found.in_loop):
            raise ConfigError(f"{where}: step {step.name} is captured per iteration, but is not assigned inside a loop")
        if (not step.per_iteration and step.carried is None and found is not None and found.in_loop
                and found.accumulating and step.name not in parameters):
            raise ConfigError(f"{where}: step {step.name} is updated from its own value inside a loop but captured once: "
                              'give it capture = "iteration", or an explicit `carried` formula')
    local_names = frozenset(node.id for node in ast.walk(definition) if isinstance(node, ast.Name)
                            and isinstance(node.ctx, ast.Store)) | frozenset(parameters)
    reference = Reference(namespace, parameters, {}, frozenset(), local_names,
                          _load_cases_module(directory / rubric.cases_module), recorder)
    known = reference.known_names()
    formulas = {}
    for step in rubric.steps:
        if step.carried is not None:
            formulas[step.name] = compile_formula(step.carried, known, f"rubric step {step.name}: carried formula")
        else:
            formulas[step.name] = compile(ast.fix_missing_locations(ast.Expression(assignments[step.name].expression)),
                                          f"<formula {step.name}>", "eval")
    accumulating = frozenset(step.name for step in rubric.steps
                             if step.name in _reads(formulas[step.name]))
    return dataclasses.replace(reference, formulas=formulas, accumulating=accumulating)


@dataclass(frozen=True)
class _Assignment:
    expression: ast.expr
    in_loop: bool
    accumulating: bool


def _function_definitions(tree: ast.Module, function: str) -> list[ast.FunctionDef]:
    return [node for node in ast.walk(tree) if isinstance(node, ast.FunctionDef) and node.name == function]


def _assignments(definition: ast.FunctionDef, rubric: Rubric) -> dict[str, _Assignment]:
    """Each step's last assignment in the reference function, wherever it stands, with its return expression.

    `name += e` (and -=, *=, ...) is read as `name + e`, `name` meaning its value before the statement.
    """
    found: dict[str, _Assignment] = {}
    returned: ast.expr | None = None

    def visit(statements: list[ast.stmt], in_loop: bool) -> None:
        nonlocal returned
        for statement in statements:
            if isinstance(statement, ast.Assign) and len(statement.targets) == 1 and isinstance(statement.targets[0], ast.Name):
                name = statement.targets[0].id
                found[name] = _Assignment(statement.value, in_loop, name in _names(statement.value))
            elif isinstance(statement, ast.AugAssign) and isinstance(statement.target, ast.Name):
                name = statement.target.id
                expression = ast.BinOp(ast.Name(name, ast.Load()), statement.op, statement.value)
                found[name] = _Assignment(ast.copy_location(expression, statement.value), in_loop, True)
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
        if len(rubric.returns) == 1:
            single = isinstance(returned, ast.Tuple) and len(returned.elts) == 1
            elements = returned.elts if single else [returned]
        else:
            elements = returned.elts if isinstance(returned, ast.Tuple) else []
        for name, element in zip(rubric.returns, elements):
            if not (isinstance(element, ast.Name) and element.id == name):
                found[name] = _Assignment(element, False, False)
    return found


def _names(expression: ast.AST) -> set[str]:
    return {node.id for node in ast.walk(expression) if isinstance(node, ast.Name)}


def _reads(code: types.CodeType) -> set[str]:
    return set(code.co_names)


def compile_formula(source: str, known: set[str], where: str) -> types.CodeType:
    """An instructor's formula compiled as an expression, every name it uses checked against `known`."""
    try:
        tree = ast.parse(source.strip(), mode="eval")
    except SyntaxError as error:
        raise ConfigError(f"{where}: formula {source!r} is not a Python expression ({error.msg})") from None
    unknown = sorted(_names(tree) - known)
    if unknown:
        raise ConfigError(f"{where}: formula {source!r} uses {', '.join(unknown)}: neither a parameter, "
                          "a local of the reference function nor a name defined by the reference notebook")
    return compile(tree, f"<formula {source.strip()}>", "eval")


def load_module(path: Path, what: str) -> types.ModuleType:
    """Import an instructor's Python file of the solutions folder; `what` names it in errors."""
    spec = importlib.util.spec_from_file_location(f"backprop_grader_{path.stem}_{abs(hash(path))}", path)
    if spec is None or spec.loader is None or not path.is_file():
        raise ConfigError(f"{what} {path} is missing")
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
    except Exception as error:
        raise InternalError(f"{what} {path} fails to import: {error!r}") from None
    return module


def _load_cases_module(path: Path) -> types.ModuleType:
    module = load_module(path, "case definition")
    for name in ("public_inputs", "hidden_inputs", "arguments"):
        if not callable(getattr(module, name, None)):
            raise ConfigError(f"case definition {path} does not define {name}()")
    return module
