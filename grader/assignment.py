"""Loading an assignment from the instructor's solutions folder: rubric, reference, case module.

Everything here is instructor code and runs in the grader's own process, which never runs
student code (that happens in the sandbox's fork server, started before any of this).
"""

from __future__ import annotations

import ast
import contextlib
import importlib.util
import inspect
import io
import tomllib
import types
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from grader import capture, notebook
from grader.errors import ConfigError, InternalError
from grader.models import Limits, Step, Tolerance

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

    @property
    def max_score(self) -> float:
        return float(sum(step.points for step in self.steps))

    @property
    def step_names(self) -> tuple[str, ...]:
        return tuple(step.name for step in self.steps)


@dataclass(frozen=True)
class Reference:
    """The reference solution, run in the grader's process."""

    namespace: dict
    """Globals of the reference notebook after it ran."""
    parameters: tuple[str, ...]
    """Parameter names of the graded function, in order."""
    formulas: dict[str, types.CodeType]
    """Each step's expression, evaluated over the arguments and the earlier steps."""
    cases: types.ModuleType
    """The hidden-case definition module."""
    recorder: capture.Recorder

    def call(self, function: str, arguments: dict[str, Any]) -> tuple[Any, dict]:
        """Call the reference function; return its result and its locals at return."""
        self.recorder.take()
        returned = self.namespace[function](*(arguments[name] for name in self.parameters))
        return returned, self.recorder.take() or {}

    def evaluate(self, step: str, scope: dict[str, Any]) -> Any:
        """Evaluate a step's formula over `scope` (arguments plus earlier step values)."""
        return eval(self.formulas[step], self.namespace, dict(scope))


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
        steps = tuple(Step(str(step["name"]), float(step["points"]), str(step.get("hint", ""))) for step in data["steps"])
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
        )
    except (KeyError, TypeError, ValueError, AttributeError) as error:
        raise ConfigError(f"rubric {path} is malformed: missing or bad {error}") from None
    names = rubric.step_names
    if len(set(names)) != len(names) or not set(rubric.returns) <= set(names):
        raise ConfigError(f"rubric {path}: step names must be unique and include every returned name")
    if not 0.0 <= rubric.carried_forward_credit <= 1.0:
        raise ConfigError(f"rubric {path}: carried_forward_credit must be between 0 and 1")
    return rubric


def _optional_name(table: dict, key: str) -> str | None:
    return None if table.get(key) is None else str(table[key])


def _load_reference(directory: Path, rubric: Rubric) -> Reference:
    path = directory / rubric.notebook
    try:
        book = notebook.read(path.resolve())  # the instructor's own file: links are followed
    except notebook.InvalidNotebook as error:
        raise ConfigError(f"reference notebook {path} {error}") from None
    namespace: dict = {"__name__": "__main__"}
    recorder = capture.Recorder()
    namespace[capture.HOOK_NAME] = recorder
    formulas: dict[str, types.CodeType] = {}
    with contextlib.redirect_stdout(io.StringIO()):
        for cell in book.cells:
            filename = f"<reference cell {cell.index}>"
            try:
                tree = ast.parse(cell.source, filename)
                for definition in _function_definitions(tree, rubric.function):
                    formulas = _formulas(definition, rubric)
                capture.instrument(tree, rubric.function)
                exec(compile(tree, filename, "exec"), namespace)
            except Exception as error:
                raise InternalError(f"the reference notebook {path} fails in cell {cell.index}: {error!r}") from None
    function = namespace.get(rubric.function)
    if not callable(function):
        raise ConfigError(f"the reference notebook {path} does not define {rubric.function}()")
    missing = [name for name in rubric.step_names if name not in formulas]
    if missing:
        raise ConfigError(f"the reference {rubric.function}() has no plain assignment for step(s) {', '.join(missing)}")
    parameters = tuple(inspect.signature(function).parameters)
    return Reference(namespace, parameters, formulas, _load_cases_module(directory / rubric.cases_module), recorder)


def _function_definitions(tree: ast.Module, function: str) -> list[ast.FunctionDef]:
    return [node for node in ast.walk(tree) if isinstance(node, ast.FunctionDef) and node.name == function]


def _formulas(definition: ast.FunctionDef, rubric: Rubric) -> dict[str, types.CodeType]:
    """Each step's right-hand side in the reference function, compiled as an expression."""
    expressions: dict[str, ast.expr] = {}
    for statement in definition.body:
        if isinstance(statement, ast.Assign) and len(statement.targets) == 1 and isinstance(statement.targets[0], ast.Name):
            expressions[statement.targets[0].id] = statement.value
        if isinstance(statement, ast.Return) and isinstance(statement.value, ast.Tuple):
            for name, element in zip(rubric.returns, statement.value.elts):
                if not (isinstance(element, ast.Name) and element.id == name):
                    expressions[name] = element
    return {
        name: compile(ast.fix_missing_locations(ast.Expression(expressions[name])), f"<formula {name}>", "eval")
        for name in rubric.step_names
        if name in expressions
    }


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
