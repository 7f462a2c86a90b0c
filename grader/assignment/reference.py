"""The reference solution: the instructor's notebook run in the grader's own process, and each step's formula.

Everything here is instructor code and runs in the grader's own process, which never runs
student code (that happens in the sandbox's fork server, started before any of this).
"""

from __future__ import annotations

import ast
import builtins
import contextlib
import dataclasses
import inspect
import io
import types
from dataclasses import dataclass
from typing import Any

from grader import capture, notebook
from grader.assignment.layout import Layout
from grader.assignment.modules import load_cases_module
from grader.assignment.rubric import Rubric
from grader.assignment.source import compile_formula, function_definitions, step_sources
from grader.errors import ConfigError, InternalError


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


def load_reference(layout: Layout, rubric: Rubric) -> Reference:
    """Run the reference notebook and read each step's formula from its graded function; ConfigError when they
    do not fit the rubric, InternalError when the notebook fails."""
    path = layout.reference
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
                definition = next(iter(function_definitions(tree, rubric.function)[-1:]), definition)
                capture.instrument(tree, rubric.function, rubric.iteration_steps)
                exec(compile(tree, filename, "exec"), namespace)
            except Exception as error:
                raise InternalError(f"the reference notebook {path} fails in cell {cell.index}: {error!r}") from None
    function = namespace.get(rubric.function)
    if not callable(function) or definition is None:
        raise ConfigError(f"the reference notebook {path} does not define {rubric.function}()")
    parameters = tuple(inspect.signature(function).parameters)
    sources = step_sources(definition, rubric.returns)
    where = f"the reference {rubric.function}()"
    unknown = [name for name in rubric.updates if name not in parameters]
    if unknown:
        raise ConfigError(f"rubric updates {', '.join(unknown)}, which {where} does not take as parameters")
    missing = [step.name for step in rubric.steps if step.name not in sources and step.carried is None]
    if missing:
        raise ConfigError(f"{where} assigns no value to step(s) {', '.join(missing)} "
                          "(nor does the rubric give them a `carried` formula)")
    for step in rubric.steps:
        found = sources.get(step.name)
        if step.per_iteration and (found is None or not found.in_loop):
            raise ConfigError(f"{where}: step {step.name} is captured per iteration, but is not assigned inside a loop")
        if (not step.per_iteration and step.carried is None and found is not None and found.in_loop
                and found.accumulating and step.name not in parameters):
            raise ConfigError(f"{where}: step {step.name} is updated from its own value inside a loop but captured once: "
                              'give it capture = "iteration", or an explicit `carried` formula')
    local_names = frozenset(node.id for node in ast.walk(definition) if isinstance(node, ast.Name)
                            and isinstance(node.ctx, ast.Store)) | frozenset(parameters)
    reference = Reference(namespace, parameters, {}, frozenset(), local_names,
                          load_cases_module(layout.cases), recorder)
    known = reference.known_names()
    formulas = {}
    for step in rubric.steps:
        if step.carried is not None:
            formulas[step.name] = compile_formula(step.carried, known, f"rubric step {step.name}: carried formula")
        else:
            formulas[step.name] = compile(ast.fix_missing_locations(ast.Expression(sources[step.name].expression)),
                                          f"<formula {step.name}>", "eval")
    accumulating = frozenset(step.name for step in rubric.steps
                             if step.name in formulas[step.name].co_names)
    return dataclasses.replace(reference, formulas=formulas, accumulating=accumulating)
