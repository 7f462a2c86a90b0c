"""Checking a whole assignment folder before anything is generated from it (`grade-stub`).

Each problem is reported as one line naming the file of the folder to fix and what is wrong
with it (a ConfigError: exit 2), in the order an author builds the folder: the rubric's tables
and keys, the reference notebook, the case module, the reference run on every case, the
misconception catalogue and the oracle. What the grader checks again when it loads the folder
to grade (the other modules of this package) is run here through those same loaders, so
`grade-stub` accepts exactly the folders `grade` can use.
"""

from __future__ import annotations

import ast
import tomllib
import types
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from grader import notebook
from grader.assignment import cases as case_builder
from grader.assignment import catalogue, loader, oracle
from grader.assignment.modules import CASE_FUNCTIONS, load_module
from grader.errors import ConfigError, GraderError
from grader.models import Case

T = TypeVar("T")

_TEXT, _TEXTS, _TEXT_OR_TEXTS, _NUMBER, _INTEGER = "text", "a list of texts", "text or a list of texts", "a number", "an integer"
# Per table: its required keys and its optional ones, each with the kind of value it takes.
# `iteration`, `updates`, `capture`, `carried` and [words] belong to the step model (docs/adding-an-assignment.md).
_TABLES: dict[str, tuple[dict[str, str], dict[str, str]]] = {
    "assignment": ({"title": _TEXT, "notebook": _TEXT, "function": _TEXT, "returns": _TEXTS},
                   {"iteration": _TEXT_OR_TEXTS, "updates": _TEXTS}),
    "cases": ({"module": _TEXT, "seed": _INTEGER, "hidden": _INTEGER}, {}),
    "tolerance": ({"rtol": _NUMBER, "atol": _NUMBER}, {}),
    "scoring": ({}, {"carried_forward_credit": _NUMBER}),
    "limits": ({}, {"timeout": _NUMBER, "statement": _NUMBER, "call": _NUMBER, "memory_mb": _INTEGER,
                    "output_bytes": _INTEGER}),
    "feedback": ({}, {"misconceptions": _TEXT, "oracle": _TEXT}),
    "words": ({}, {"unit": _TEXT, "row": _TEXT, "column": _TEXT}),
}
_STEP: tuple[dict[str, str], dict[str, str]] = ({"name": _TEXT, "points": _NUMBER},
                                                {"hint": _TEXT, "capture": _TEXT, "carried": _TEXT})
_REQUIRED = ("assignment", "cases", "tolerance", "steps")


def folder(solutions: Path, name: str) -> tuple[loader.Assignment, list[Case]]:
    """Check the assignment folder `solutions/name`; return it loaded, with its cases for the rubric's seed."""
    directory = solutions / name
    rubric_path = directory / loader.RUBRIC
    if not rubric_path.is_file():
        loader.load(solutions, name)  # raises the loader's own "no assignment" message
    _check_rubric(rubric_path)
    read = _blame(rubric_path, lambda: loader.load_rubric(rubric_path))
    rubric, layout = read.rubric, read.layout
    for file, key in ((layout.notebook, "[assignment] notebook"), (layout.cases_module, "[cases] module"),
                      (layout.misconceptions, "[feedback] misconceptions"), (layout.oracle, "[feedback] oracle")):
        if file is not None and not (directory / file).is_file():
            raise ConfigError(f"{rubric_path}: {key} names {file}, which is not a file of {directory}")
    reference_path = layout.reference
    _check_notebook(reference_path, rubric.function)
    cases_path = layout.cases
    module = _blame(cases_path, lambda: load_module(cases_path, "case definition"))
    absent = [function for function in CASE_FUNCTIONS if not callable(getattr(module, function, None))]
    if absent:
        raise ConfigError(f"{cases_path}: does not define {', '.join(f'{function}()' for function in absent)}")
    loaded = _blame(reference_path, lambda: _run_reference(loader.load(solutions, name)))
    _check_cases(cases_path, module, loaded)
    # The case module ran cleanly above, so a failure left in building the cases is the reference's.
    built = _blame(reference_path, lambda: case_builder.build(loaded, read.defaults.seed))
    _blame(rubric_path, lambda: _feedback(loaded, built))
    return loaded, built


def _run_reference(loaded: loader.Assignment) -> loader.Assignment:
    """The assignment with its reference run now (it runs when first asked for), so its failure is blamed on it."""
    _ = loaded.reference
    return loaded


def _feedback(loaded: loader.Assignment, built: list[Case]) -> None:
    """Load the catalogue and run the oracle, as `grade` does for its feedback."""
    layout = loaded.layout
    if layout.misconceptions:
        catalogue.load(layout.directory / layout.misconceptions, loaded.rubric, loaded.reference)
    if layout.oracle:
        oracle.load(loaded, built)


def _blame(path: Path, action: Callable[[], T]) -> T:
    """Run a loader; its error becomes a ConfigError (exit 2) whose line names `path` if it does not name a file."""
    try:
        return action()
    except GraderError as error:
        message = str(error)
        raise ConfigError(message if str(path.parent) in message else f"{path}: {message}") from None


def _check_rubric(path: Path) -> None:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as error:
        raise ConfigError(f"{path}: cannot be read: {error}") from None
    unknown = sorted(set(data) - set(_TABLES) - {"steps"})
    if unknown:
        raise ConfigError(f"{path}: unknown table(s) {', '.join(unknown)} (known: {', '.join([*_TABLES, 'steps'])})")
    missing = [table for table in _REQUIRED if table not in data]
    if missing:
        raise ConfigError(f"{path}: missing the required table(s) {', '.join(missing)}")
    for table, (required, optional) in _TABLES.items():
        if table in data:
            _check_table(path, f"[{table}]", data[table], required, optional)
    steps = data["steps"]
    if not isinstance(steps, list) or not steps:
        raise ConfigError(f"{path}: [[steps]] must be one or more tables")
    for number, step in enumerate(steps, start=1):
        _check_table(path, f"[[steps]] number {number}", step, *_STEP)
    names = [str(step["name"]) for step in steps]
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise ConfigError(f"{path}: step name(s) used twice: {', '.join(repeated)}")
    # An empty list is allowed: a function that only updates its arguments in place returns nothing graded.
    returns = data["assignment"]["returns"]
    strays = [name for name in returns if name not in names]
    if strays:
        raise ConfigError(f"{path}: [assignment] returns names {', '.join(strays)}, not a step (steps: {', '.join(names)})")


def _check_table(path: Path, where: str, table: Any, required: dict[str, str], optional: dict[str, str]) -> None:
    if not isinstance(table, dict):
        raise ConfigError(f"{path}: {where} must be a table")
    known = required | optional
    unknown = sorted(set(table) - set(known))
    if unknown:
        raise ConfigError(f"{path}: {where} has unknown key(s) {', '.join(unknown)} (known: {', '.join(known)})")
    absent = [key for key in required if key not in table]
    if absent:
        raise ConfigError(f"{path}: {where} is missing the required key(s) {', '.join(absent)}")
    for key, value in table.items():
        if not _is(known[key], value):
            raise ConfigError(f"{path}: {where} {key} must be {known[key]}, not {value!r:.60}")


def _is(kind: str, value: Any) -> bool:
    texts = isinstance(value, list) and all(isinstance(item, str) and item for item in value)
    return {
        _TEXT: isinstance(value, str) and bool(value.strip()),
        _TEXTS: texts,
        _TEXT_OR_TEXTS: (isinstance(value, str) and bool(value.strip())) or (texts and bool(value)),
        _NUMBER: isinstance(value, int | float) and not isinstance(value, bool),
        _INTEGER: isinstance(value, int) and not isinstance(value, bool),
    }[kind]


def _check_notebook(path: Path, function: str) -> None:
    """The reference is a readable notebook, its code is Python, and it defines the graded function."""
    try:
        book = notebook.read(path.resolve())  # the instructor's own file: links are followed
    except notebook.InvalidNotebook as error:
        raise ConfigError(f"{path}: the reference notebook {error}") from None
    defined = False
    for cell in book.cells:
        try:
            tree = ast.parse(cell.source)
        except SyntaxError as error:
            raise ConfigError(f"{path}: cell {cell.index} is not Python ({error.msg}, line {error.lineno})") from None
        defined = defined or any(isinstance(node, ast.FunctionDef) and node.name == function for node in ast.walk(tree))
    if not defined:
        raise ConfigError(f"{path}: defines no function {function}() (the rubric's [assignment] function)")


def _check_cases(path: Path, module: types.ModuleType, loaded: loader.Assignment) -> None:
    """The case module's functions run for the rubric's seed and give every parameter of the graded function."""
    rubric, reference = loaded.rubric, loaded.reference
    facade = types.SimpleNamespace(**reference.namespace)
    public = _run(path, "public_inputs()", module.public_inputs)
    hidden = _run(path, "hidden_inputs()",
                  lambda: module.hidden_inputs(np.random.default_rng(loaded.defaults.seed), rubric.hidden_cases, facade))
    if (not isinstance(hidden, list) or len(hidden) != rubric.hidden_cases
            or not all(isinstance(entry, tuple) and len(entry) == 2 and isinstance(entry[1], dict) for entry in hidden)):
        raise ConfigError(f"{path}: hidden_inputs() must return a list of {rubric.hidden_cases} (label, inputs) pairs "
                          "(the rubric's [cases] hidden)")
    if not isinstance(public, dict):
        raise ConfigError(f"{path}: public_inputs() must return a dict of inputs")
    for label, inputs in [("the public case", public), *((f"hidden case {n}", entry[1]) for n, entry in enumerate(hidden, 1))]:
        arguments = _run(path, f"arguments() on {label}", lambda inputs=inputs: module.arguments(facade, inputs))
        absent = [name for name in reference.parameters if not isinstance(arguments, dict) or name not in arguments]
        if absent:
            raise ConfigError(f"{path}: arguments() on {label} gives no value for {', '.join(absent)} "
                              f"(parameters of {rubric.function}())")


def _run(path: Path, what: str, action: Callable[[], T]) -> T:
    try:
        return action()
    except Exception as error:
        raise ConfigError(f"{path}: {what} raised {error!r:.200}") from None
