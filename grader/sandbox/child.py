"""The forked child's work: run a notebook's cells, then call the graded function on every case.

Everything here runs next to untrusted code. It produces plain data only (the `wire.Document`,
numbers through `values`); the verdict is made later, in the grader's process.
"""

from __future__ import annotations

import ast
import builtins
import linecache
import os
import signal
import sys
import time
import types
from dataclasses import dataclass
from typing import Any

import numpy as np

from grader import capture, values
from grader.sandbox import source, wire

_MESSAGE_CHARS = 300
_ndarray = np.ndarray
_decode_argument = values.decode_argument
_DEFINITIONS = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Import, ast.ImportFrom)


class BudgetExceeded(BaseException):
    """Raised by the alarm in student code that ran past its time budget."""


def _on_alarm(signum, frame):
    raise BudgetExceeded()


# Windows has no interval timer: there, only the whole run's time limit (a kill) applies.
_CAN_INTERRUPT = hasattr(signal, "setitimer")


def _with_budget(call, seconds: float):
    if not _CAN_INTERRUPT:
        return call()
    signal.setitimer(signal.ITIMER_REAL, max(seconds, 0.001))
    try:
        return call()
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)


def decoded_arguments(cases: list[wire.WireCase]) -> list[dict[str, Any]]:
    """Every case's arguments as the function receives them, by parameter name.

    The fork server decodes them once, before its first child: they are the grader's data, not the
    student's, and each child (a fresh fork) gets its own copy-on-write copy and passes each case's
    arguments to one call only, so no child decodes them again.
    """
    return [{name: _decode_argument(encoded) for name, encoded in case["arguments"].items()} for case in cases]


@dataclass(frozen=True)
class Statement:
    """One top-level statement of a cell, compiled on its own (each has its own time budget)."""

    line: int
    definition: bool
    """A def, class or import: it still runs once the time for top-level code is used up."""
    code: types.CodeType | None
    failure: tuple[int, str, bool] | None = None
    """Why it does not compile (`return` at top level, say): (line, message, whether it defines the function)."""


@dataclass(frozen=True)
class PreparedCell:
    """A cell's text made ready to run: parsed (IPython syntax set aside), the graded function instrumented, each
    statement compiled."""

    notes: tuple[tuple[int, str], ...]
    statements: tuple[Statement, ...] | None
    """None when the cell is not Python (a `%%bash` cell)."""


@dataclass(frozen=True)
class StubCells:
    """The stub's cells (the notebook every student starts from), prepared once in the fork server for the graded
    function and its per-iteration steps: a student's cell left as the stub has it is not parsed again."""

    function: str
    iterations: tuple[str, ...]
    cells: dict[str, tuple[int, PreparedCell]]
    """Text -> (its cell's index in the stub, the cell prepared)."""


def prepare_cell(text: str, filename: str, function: str, iteration_steps) -> PreparedCell:
    """Parse and compile a cell's statements; raises source.CellSyntaxError when it is not Python even without
    IPython syntax. The same in the child and, for the stub's cells, in the fork server."""
    tree, notes = source.parse_cell(text, filename)
    if tree is None:
        return PreparedCell(tuple(notes), None)
    if function in text and "def" in text:  # a cell that cannot define the function: no tree walk
        capture.instrument(tree, function, iteration_steps)
    return PreparedCell(tuple(notes), tuple(_compiled(statement, filename, function) for statement in tree.body))


def _compiled(statement: ast.stmt, filename: str, function: str) -> Statement:
    definition = isinstance(statement, _DEFINITIONS)
    try:
        return Statement(statement.lineno, definition,
                         compile(ast.Module(body=[statement], type_ignores=[]), filename, "exec"))
    except (SyntaxError, ValueError, RecursionError, MemoryError) as error:
        # Parsed but not compilable (`await` or `return` at top level, `break` outside a loop...).
        line = getattr(error, "lineno", None) or statement.lineno
        message = f"{type(error).__name__}: {getattr(error, 'msg', None) or error}"
        defines = any(isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name == function
                      for node in ast.walk(statement))
        return Statement(statement.lineno, definition, None, (line, message, defines))


def prepare_stub(stub: wire.Stub | None) -> StubCells | None:
    """The stub's cells prepared (in the fork server, before its first child); a cell that does not parse is left out."""
    if not stub:
        return None
    cells = {}
    for cell in stub["cells"]:
        try:
            cells[cell["source"]] = (cell["index"], prepare_cell(cell["source"], f"<cell {cell['index']}>",
                                                                 stub["function"], stub["iterations"]))
        except source.CellSyntaxError:
            continue
    return StubCells(stub["function"], tuple(stub["iterations"]), cells)


def run(job: wire.Job, cases: list[wire.WireCase], arguments: list[dict[str, Any]] | None = None,
        stub: StubCells | None = None) -> wire.Document:
    """Execute `job` (cells, function, limits) and return the plain-data result document.

    `arguments` is `decoded_arguments(cases)` made before the fork; without it, they are decoded here.
    `stub`: the stub's cells prepared before the fork, used for a cell whose text is the stub's.
    """
    if stub is not None and (stub.function != job["function"] or stub.iterations != tuple(job.get("iterations", ()))):
        stub = None
    encoder = values.Encoder()
    result = _run(job, cases, arguments if arguments is not None else decoded_arguments(cases), encoder, stub)
    result["f8"] = encoder.payload()
    return result


def _asfarray(a, dtype=np.float64):
    """NumPy 1's asfarray: an array of floats (the given float type, else float64)."""
    return np.asarray(a, dtype=dtype if np.issubdtype(dtype, np.inexact) else np.float64)


# Names NumPy 2 removed that the course's NumPy-1-era material uses: in the child they still mean
# what they meant, so an old but right solution is not an exception on every case.
_NUMPY_1_NAMES = {"float_": np.float64, "complex_": np.complex128, "asfarray": _asfarray, "mat": np.asmatrix,
                  "Inf": np.inf, "Infinity": np.inf, "infty": np.inf, "NaN": np.nan, "NAN": np.nan,
                  "float": float, "int": int, "object": object, "bool": bool}


def restore_numpy_1_names() -> None:
    """Put back what NumPy 2 removed. The fork server does it once, before its first child: a child that did it
    grew numpy's module dictionary in its own copy (about 50 us and ten copied pages each); `run` still checks."""
    for name, value in _NUMPY_1_NAMES.items():
        if name not in np.__dict__:
            setattr(np, name, value)


def _run(job: wire.Job, cases: list[wire.WireCase], arguments: list[dict[str, Any]],
         encoder: values.Encoder, stub: StubCells | None) -> wire.Document:
    # As in a Jupyter kernel, modules in the working folder (the scratch folder: what the notebook
    # itself wrote there) are importable.
    sys.path.insert(0, os.getcwd())
    restore_numpy_1_names()
    if _CAN_INTERRUPT:
        signal.signal(signal.SIGALRM, _on_alarm)
    limits = job["limits"]
    started = time.monotonic()
    deadline = started + limits["timeout"] * 0.9
    module_deadline = started + limits["timeout"] * 0.5
    namespace = {"__name__": "__main__", "__builtins__": builtins, "display": _display}
    recorder = capture.Recorder(keep=encoder.encode)
    namespace[capture.HOOK_NAME] = recorder
    function = job["function"]
    result: wire.Document = {"warnings": [], "notes": [], "syntax_error": None, "function": None, "cases": [],
                             "stopped": None}
    unparsed = []
    for cell in job["cells"]:
        _run_cell(cell, function, job.get("iterations", ()), namespace, result, unparsed, module_deadline,
                  limits["statement"], stub)
    graded = namespace.get(function)
    if graded is None:
        result["function"] = "missing"
        result["syntax_error"] = next((error for error in unparsed if error["defines"]), None)
        return result
    if not callable(graded):
        result["function"] = f"not a function (a {values.type_name(type(graded))})"
        return result
    result["function"] = "defined"
    # What the top-level code's own calls recorded belongs to no case; from here on, each case takes what it recorded.
    recorder.take()
    recorder.take_iterations()
    silenced = False
    for case, given in zip(cases, arguments):
        if not case.get("public") and not silenced:
            _silence_output()
            silenced = True
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            result["stopped"] = "timeout"
            break
        outcome = _call(graded, case, given, job, recorder, min(limits["call"], remaining), encoder)
        result["cases"].append(outcome)
        if outcome["timeout"]:
            result["stopped"] = "timeout"
            break
    return result


def _display(*objects, **options):
    """Stand-in for IPython's `display`, so notebooks that call it still run."""


def _run_cell(cell, function, iteration_steps, namespace, result, unparsed, module_deadline, statement_seconds, stub):
    index, text = cell["index"], cell["source"]
    filename = f"<cell {index}>"
    linecache.cache[filename] = (len(text), None, text.splitlines(True), filename)
    written = source.writefile(text)
    if written is not None:
        _write_file(index, *written, result)
        return
    try:
        prepared = _prepared(text, index, filename, function, iteration_steps, stub)
    except source.CellSyntaxError as error:
        entry = {"cell": index, "line": error.line, "message": f"{error.message}: {error.text}",
                 "defines": source.mentions_function(text, function)}
        unparsed.append(entry)
        result["warnings"].append({"cell": index, "line": error.line,
                                   "message": f"{error.message} ({error.text}); this cell was not run"})
        return
    result["notes"].extend({"cell": index, "line": line, "message": message} for line, message in prepared.notes)
    for statement in prepared.statements or ():
        remaining = module_deadline - time.monotonic()
        if remaining <= 0 and not statement.definition:
            result["warnings"].append({"cell": index, "line": statement.line,
                                       "message": "not run: the time for top-level code was used up"})
            continue
        if statement.code is None:
            line, message, defines = statement.failure
            unparsed.append({"cell": index, "line": line, "message": message, "defines": defines})
            result["warnings"].append({"cell": index, "line": line, "message": f"{message}; this statement was not run"})
            continue
        budget = max(min(statement_seconds, remaining), 0.05)
        try:
            _with_budget(lambda code=statement.code: exec(code, namespace), budget)
        except BudgetExceeded:
            result["warnings"].append({"cell": index, "line": statement.line,
                                       "message": f"stopped after {budget:.2g} s; the rest of this statement was skipped"})
        except BaseException as error:
            where = _student_frame(error.__traceback__) or (index, statement.line)
            result["warnings"].append({"cell": where[0], "line": where[1],
                                       "message": f"{_describe(error)}; the rest of this statement was skipped"})


def _prepared(text: str, index: int, filename: str, function: str, iteration_steps, stub: StubCells | None) -> PreparedCell:
    """The cell prepared: the stub's own when the text is the stub's (renamed for another place), else now."""
    found = stub.cells.get(text) if stub is not None else None
    if found is None:
        return prepare_cell(text, filename, function, iteration_steps)
    stub_index, prepared = found
    if stub_index == index:
        return prepared
    # Moved (a cell added above it): tracebacks must name the cell where it is now.
    return PreparedCell(prepared.notes, None if prepared.statements is None else tuple(
        Statement(each.line, each.definition, _renamed(each.code, filename), each.failure) for each in prepared.statements))


def _renamed(code: types.CodeType | None, filename: str) -> types.CodeType | None:
    """`code` and the code objects nested in it (functions, classes, comprehensions) with another file name."""
    if code is None:
        return None
    constants = tuple(_renamed(constant, filename) if isinstance(constant, types.CodeType) else constant
                      for constant in code.co_consts)
    return code.replace(co_filename=filename, co_consts=constants)


def _write_file(index: int, name: str, body: str, append: bool, result: dict) -> None:
    """`%%writefile`: the helper module a notebook writes for itself, written into the scratch folder."""
    try:
        with open(name, "a" if append else "w", encoding="utf-8") as stream:
            stream.write(body)
        result["notes"].append({"cell": index, "line": 1, "message": f"`%%writefile` wrote {name[:80]}"})
    except BaseException as error:
        result["warnings"].append({"cell": index, "line": 1,
                                   "message": f"`%%writefile {name[:80]}` failed: {_describe(error)}"})


def _call(graded, case, given, job, recorder, seconds, encoder):
    arguments = [given[name] for name in job["parameters"]]
    # Each array argument's shape and bytes before the call (kept as bytes: no array copy to compare later).
    before = [(argument.shape, argument.tobytes()) if type(argument) is _ndarray else None for argument in arguments]
    outcome: wire.CaseOutcome = {"name": case["name"], "returned": None, "exception": None, "timeout": False, "mutated": []}
    try:
        returned = _with_budget(lambda: graded(*arguments), seconds)
        outcome["returned"] = _describe_return(returned, len(job["returns"]), encoder, bool(case.get("public")))
    except BudgetExceeded:
        outcome["timeout"] = True
    except BaseException as error:
        where = _student_frame(error.__traceback__)
        # A hidden case's exception text could quote its inputs or the student's (right) values.
        public = bool(case.get("public"))
        outcome["exception"] = {"message": _describe(error) if public else _builtin_kind(type(error), "an exception"),
                                "cell": where[0] if where else None, "line": where[1] if where else None}
    snapshot = recorder.take() or {}
    looped, partial = recorder.looped, recorder.partial
    iterations, _, raised_at, overflow = recorder.take_iterations()
    # An argument the function is meant to update in place is, as a step, its value after the call.
    snapshot.update({name: argument for name, argument in zip(job["parameters"], arguments)
                     if name in job.get("updates", ())})
    # The returned values decide the returned steps; their locals matter only when nothing was returned.
    skipped = job["returns"] if outcome["returned"] is not None else ()
    per_iteration = job.get("iterations", ())
    outcome["locals"] = {name: encoder.encode(snapshot[name]) for name in job["steps"]
                         if name in snapshot and name not in skipped and name not in iterations}
    outcome["iterations"] = {name: kept + ([{"unsupported": f"more than {capture.MAX_ITERATIONS} iterations"}]
                                           if name in overflow else [])
                             for name, kept in iterations.items() if type(name) is str and name in per_iteration}
    outcome["raised_at"] = list(raised_at) if raised_at is not None and outcome["exception"] is not None else None
    # Which steps the function's own loops assign, so one without values per iteration is not called vectorised;
    # and which kept a value from the iteration that raised.
    outcome["looped"] = sorted(name for name in looped if name in per_iteration)
    outcome["partial"] = sorted(name for name in partial if name in outcome["iterations"]) if outcome["raised_at"] else []
    outcome["mutated"] = [name for name, kept, after in zip(job["parameters"], before, arguments)
                          if kept is not None and not _unchanged(kept, after)]
    return outcome


def _unchanged(kept: tuple, after) -> bool:
    """Bit-for-bit the (shape, bytes) kept before the call: an in-place change is a change, even to NaN."""
    try:
        return after.shape == kept[0] and after.tobytes() == kept[1]
    except BaseException:
        return False


def _describe_return(returned, expected_length, encoder, public):
    if expected_length == 0:  # a function that only updates its arguments in place: what it returns is not judged
        return {"kind": "sequence", "values": []}
    if returned is None:
        return {"kind": "none"}
    if expected_length == 1:
        # One returned value: the value itself, or a tuple of one (never a tuple subclass's overrides).
        single = type(returned) is tuple and tuple.__len__(returned) == 1
        return {"kind": "sequence", "values": [encoder.encode(tuple.__getitem__(returned, 0) if single else returned)]}
    # A tuple or list subclass (a namedtuple) is read through the base type's own methods, never its overrides.
    base = tuple if isinstance(returned, tuple) else list if isinstance(returned, list) else None
    if base is not None:
        length = base.__len__(returned)
        if length != expected_length:
            return {"kind": "length", "length": length}
        return {"kind": "sequence", "values": [encoder.encode(base.__getitem__(returned, i)) for i in range(length)]}
    # None for a class of the notebook's on a hidden case: its name could spell out values.
    kind = values.type_name(type(returned)) if public else _builtin_kind(type(returned), None)
    return {"kind": "other", "type": kind}


def _silence_output() -> None:
    """From the hidden cases on, printed text goes nowhere: it could show their inputs or values."""
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except BaseException:
            pass
    null = os.open(os.devnull, os.O_WRONLY)
    os.dup2(null, 1)
    os.dup2(null, 2)
    os.close(null)


def _builtin_kind(kind: type, otherwise: str | None) -> str | None:
    """A builtin type's name; for a class the notebook made, `otherwise` (its name could spell out values)."""
    name = type.__getattribute__(kind, "__name__")
    return name if getattr(builtins, name, None) is kind else otherwise


def _describe(error: BaseException) -> str:
    kind = type(error)
    if kind is SystemExit:
        return "called sys.exit()"
    try:
        text = str(error)
    except BaseException:
        text = ""
    name = kind.__name__ if isinstance(kind.__name__, str) else "exception"
    return f"{name}: {text}"[:_MESSAGE_CHARS] if text else name[:_MESSAGE_CHARS]


def _student_frame(tb):
    """(cell, line) of the innermost traceback frame that is in a notebook cell."""
    found = None
    while tb is not None:
        filename = tb.tb_frame.f_code.co_filename
        if filename.startswith("<cell "):
            found = (int(filename[6:-1]), tb.tb_lineno)
        tb = tb.tb_next
    return found

