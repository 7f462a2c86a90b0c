"""The evidence: the child's document, validated strictly and decoded into one run per case.

Decides what the student's function produced, and nothing about whether it is right. The
document crossed the sandbox boundary, so it is treated as forged until proven well formed:
any departure from the promised form (a forged value where a count belongs, unknown steps,
cases out of order) raises MalformedResult, and every value is decoded into a float64 array,
a reason string or None; the student's objects never exist in the grader's process.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

import numpy as np

from grader import capture, values
from grader.assignment import Rubric
from grader.judge import wording
from grader.models import Case
from grader.text import printable

ABSENT = object()
"""A step the function never assigned on a case (not the same as a value of None)."""
# The value of a step meant per iteration that the student computed without a loop (vectorised): judged
# through what it feeds (right returned values make it count).
NO_LOOP = wording.NO_LOOP
# The value of a step meant per iteration whose loop ran to the end without ever assigning it.
NEVER_IN_LOOP = wording.NEVER_IN_LOOP


class MalformedResult(Exception):
    """The child's document does not have the promised form (a bug, or forged by the student)."""


@dataclass(frozen=True)
class CaseRun:
    """What the student's function produced on one case, decoded."""

    values: dict
    """Step name -> float64 array, a reason string (unusable value), or None; absent if never assigned."""
    exception: str | None
    """The exception it raised, with the place in the notebook, if any."""
    mutated: tuple[str, ...]
    """Arguments it changed in place."""
    returned_problem: str | None
    """What was wrong with the returned value's form, if anything."""
    partial: frozenset[str] = frozenset()
    """Per-iteration steps whose last value is from the iteration that raised (assigned there before the raise)."""
    raised_in_loop: bool = False
    """Whether the function raised inside an iteration of a loop that assigns steps."""


@dataclass(frozen=True)
class StudentRun:
    """The whole child document, validated."""

    function: str
    syntax_error: str | None
    stopped: str | None
    cases: tuple[CaseRun, ...]
    warnings: tuple[str, ...]
    notes: tuple[str, ...]


def parse(document: dict, rubric: Rubric, cases: list[Case]) -> StudentRun:
    """Validate the child's document strictly and decode its values."""
    try:
        if "internal" in document:
            # Only the kind of failure: the traceback names the grader's files, and may quote the notebook.
            last = str(document["internal"]).strip().splitlines()[-1:] or ["?"]
            raise MalformedResult(f"the runner failed ({_text(last[0].split(':')[0], 80)})")
        function = _text(document["function"])
        decoder = values.Decoder(document["f8"])
        raw_cases = document["cases"]
        if not isinstance(raw_cases, list) or len(raw_cases) > len(cases):
            raise MalformedResult("wrong number of cases")
        if function == "defined" and document.get("stopped") is None and len(raw_cases) != len(cases):
            raise MalformedResult("wrong number of cases")
        per_iteration = frozenset(rubric.iteration_steps)
        syntax = document.get("syntax_error")
        syntax_text = None
        if isinstance(syntax, dict):
            syntax_text = wording.syntax_error(syntax.get("cell"), syntax.get("line"), _text(syntax.get("message")))
        return StudentRun(
            function=function,
            syntax_error=syntax_text,
            stopped=document.get("stopped") if document.get("stopped") in (None, "timeout") else "timeout",
            cases=tuple(_parse_case(raw, case, rubric, decoder, per_iteration) for raw, case in zip(raw_cases, cases)),
            warnings=tuple(_located(entry, "warning") for entry in document.get("warnings", [])),
            notes=tuple(_located(entry, "note") for entry in document.get("notes", [])),
        )
    except MalformedResult:
        raise
    except Exception as error:  # anything malformed, forged values (1e999 where an int belongs) included
        raise MalformedResult(type(error).__name__) from None


def _text(value, limit: int = 400) -> str:
    """Text from the child, bounded and stripped of control characters before it can reach a report."""
    if not isinstance(value, str):
        raise TypeError("expected text")
    return printable(value[:limit])


def _count(value) -> int:
    """A cell, line or length from the child: a plain, bounded int, or the document is malformed."""
    if type(value) is not int or not 0 <= value < 10_000_000:
        raise MalformedResult("a count is not a small whole number")
    return value


def _located(entry: dict, kind: str) -> str:
    return wording.located(kind, _count(entry["cell"]), _count(entry["line"]), _text(entry["message"]))


def _parse_case(raw: dict, case: Case, rubric: Rubric, decoder: values.Decoder,
                per_iteration: frozenset[str]) -> CaseRun:
    if raw["name"] != case.name:
        raise MalformedResult("cases out of order")
    iterations = raw.get("iterations", {})
    if not isinstance(iterations, dict):
        raise MalformedResult("iterations are not an object")
    raised_at = raw.get("raised_at")
    if raised_at is not None and (not isinstance(raised_at, list) or not 0 < len(raised_at) <= 16):
        raise MalformedResult("raised_at is not a short list")
    looped = _names(raw["looped"], per_iteration, "looped")
    partial = _names(raw["partial"], iterations.keys(), "partial")
    if partial and raised_at is None:
        raise MalformedResult("values of an iteration that raised, but no iteration raised")
    found: dict = {}
    for name, encoded in raw["locals"].items():
        if name not in case.expected:
            raise MalformedResult(f"unknown step {name!r}")
        value = decoder.decode(encoded)
        if name not in per_iteration or value is None:
            found[name] = value
        elif name not in looped:
            # A step meant per iteration that has a value but no loop around it: computed without one (vectorised).
            found[name] = NO_LOOP
        elif raw.get("exception") is None:
            found[name] = NEVER_IN_LOOP
        # Else its loop raised before it was ever assigned there: it has no value (the exception says why).
    for name, entries in iterations.items():
        if name not in per_iteration or not isinstance(entries, list) or not 0 < len(entries) <= capture.MAX_ITERATIONS + 1:
            raise MalformedResult(f"bad iterations of {name!r}")
        found[name] = _sequence([decoder.decode(entry) for entry in entries])
    where_raised = f" on {rubric.label([_count(number) for number in raised_at])}" if raised_at else ""
    problem = None
    returned = raw.get("returned")
    exception = raw.get("exception")
    if returned is not None:
        kind = returned["kind"]
        if kind == "sequence":
            items = returned["values"]
            if not isinstance(items, list) or len(items) != len(rubric.returns):
                raise MalformedResult("returned values of the wrong length")
            found.update(zip(rubric.returns, (decoder.decode(item) for item in items)))
        else:
            if kind == "none":
                problem = wording.returned_none(rubric)
            elif kind == "length":
                problem = wording.returned_length(rubric, _count(returned["length"]))
            else:
                named = returned["type"]
                problem = wording.returned_type(rubric, _text(named, 80) if named is not None else None)
            found.update({name: problem for name in rubric.returns})
    exception_text = None
    if exception is not None:
        where = f" (cell {_count(exception['cell'])}, line {_count(exception['line'])})" if exception.get("cell") else ""
        exception_text = _text(exception["message"]) + where_raised + where
        if returned is None and all(isinstance(found.get(name), np.ndarray) for name in rubric.returns):
            # Every value to return was computed, and then the function raised (an assert left in, say):
            # right values that never reach the caller do not count. When it raised before computing
            # them all, those it did compute are judged, so the first wrong step is where it failed.
            found.update({name: wording.not_returned(rubric, exception_text) for name in rubric.returns})
    mutated = tuple(name for name in raw.get("mutated", []) if isinstance(name, str) and name not in rubric.updates)[:10]
    return CaseRun(found, exception_text, mutated, problem, partial, raised_at is not None and exception is not None)


def _names(value, allowed: Collection[str], what: str) -> frozenset[str]:
    """A list of distinct step names from the child, each one of `allowed`, or the document is malformed."""
    if type(value) is list and not value:  # the usual answer, settled without building anything
        return _NONE
    if not isinstance(value, list) or len(value) > len(allowed) or len(set(map(str, value))) != len(value) \
            or not all(isinstance(name, str) and name in allowed for name in value):
        raise MalformedResult(f"bad {what} steps")
    return frozenset(value)


_NONE: frozenset[str] = frozenset()


def _sequence(decoded: list) -> np.ndarray | str | None:
    """A step's values over the iterations as one array (first axis: the iteration), a reason string, or None."""
    reasons = [value for value in decoded if isinstance(value, str)]
    if reasons:
        return reasons[0]
    if all(value is None for value in decoded):
        return None
    if any(value is None for value in decoded) or len({value.shape for value in decoded}) != 1:
        return wording.UNEVEN_ITERATIONS
    return np.stack(decoded)
