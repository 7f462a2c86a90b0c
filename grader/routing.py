"""Which assignment each notebook is for, so a notebook is only ever graded against its own.

The rule, per notebook:
1. Its code. Every assignment whose graded function the notebook defines is a candidate, except
   one whose definition is, statement for statement, *given* code of another candidate's stub
   (a backward_pass notebook defines forward_pass exactly as the backward_pass stub gives it:
   that copy says nothing about forward_pass). One candidate left: the notebook is for it.
2. Else its metadata: the assignment its stub recorded (`metadata.backprop_grader.assignment`).
   The code wins over the metadata when the two disagree, so editing the metadata never buys
   the marks of another assignment whose code the stub hands out.
3. Else it is unknown: unreadable, defining no graded function, or defining the graded
   functions of several assignments alike (`candidates`).

Definitions are compared as syntax trees, so comments and spacing do not count. Student code
is parsed here, never run.
"""

from __future__ import annotations

import ast
import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from grader import notebook
from grader.assignment import RUBRIC, load_rubric
from grader.errors import ConfigError
from grader.models import Submission
from grader.stub import strip_solutions


@dataclass(frozen=True)
class Signature:
    """What tells an assignment's notebooks apart: its graded function and the code its stub gives."""

    name: str
    function: str
    notebook: str
    """File name of its notebook (students usually keep it)."""
    given: frozenset[str]
    """Every function its stub defines besides the graded one, as a syntax-tree dump."""


@dataclass(frozen=True)
class Identity:
    """The assignment a notebook is for, as far as it can be told."""

    assignment: str | None
    basis: str = ""
    """Why: "code", "metadata", or "" when unknown."""
    candidates: tuple[str, ...] = ()
    """When unknown: the assignments whose graded functions it defines alike."""


@dataclass(frozen=True)
class Plan:
    """The submissions of a run split by the assignment each is graded against."""

    groups: dict[str, list[Submission]]
    """Assignment name -> its submissions, in the order found; assignments sorted by name."""
    refusals: dict[str, str] = field(default_factory=dict)
    """Submission (as given) -> why it is not graded against its group's assignment (an error row)."""


def signatures(solutions: Path, names: Iterable[str], skip_broken: bool = False) -> list[Signature]:
    """Each assignment's signature, from its rubric and reference notebook (nothing is run).

    An assignment whose rubric or reference cannot be read is a ConfigError, or left out with `skip_broken`.
    """
    found = []
    for name in names:
        try:
            rubric = load_rubric(solutions / name / RUBRIC)
            try:
                book = notebook.read(solutions / name / rubric.notebook)
            except notebook.InvalidNotebook as error:
                raise ConfigError(f"reference notebook {solutions / name / rubric.notebook} {error}") from None
        except ConfigError:
            if skip_broken:
                continue
            raise
        given = {dump for cell in book.cells
                 for function, dump in _definitions(strip_solutions(cell.source)) if function != rubric.function}
        found.append(Signature(name, rubric.function, rubric.notebook, frozenset(given)))
    return found


def identify(path: Path, known: Sequence[Signature]) -> Identity:
    """Which of the `known` assignments the notebook at `path` is for (see the module's rule)."""
    try:
        book = notebook.read(path)
    except notebook.InvalidNotebook:
        return Identity(None)
    wanted = {signature.function for signature in known}
    defined: dict[str, str] = {}
    for cell in book.cells:
        if any(function in cell.source for function in wanted):
            defined.update((function, dump) for function, dump in _definitions(cell.source) if function in wanted)
    candidates = [signature for signature in known if signature.function in defined]
    own = [signature.name for signature in candidates
           if not any(defined[signature.function] in other.given for other in candidates if other is not signature)]
    if len(own) == 1:
        return Identity(own[0], "code")
    if book.assignment is not None:
        return Identity(book.assignment, "metadata")
    return Identity(None, candidates=tuple(own or (signature.name for signature in candidates)))


def _definitions(source: str) -> list[tuple[str, str]]:
    """(name, syntax-tree dump) of each function a cell defines at any depth; none if it is not Python."""
    try:
        tree = ast.parse(_without_ipython(source))
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return []
    return [(node.name, ast.dump(node)) for node in ast.walk(tree) if isinstance(node, ast.FunctionDef)]


_IPYTHON_LINE = re.compile(r"^\s*[%!].*$", re.MULTILINE)


def _without_ipython(source: str) -> str:
    """`%magic` and `!shell` lines blanked, so a cell holding one still shows its definitions."""
    return _IPYTHON_LINE.sub("", source)


def plan(submissions: Sequence[Submission], identities: Mapping[str, Identity], known: Sequence[Signature],
         requested: str | None) -> Plan:
    """Split the submissions by assignment; ConfigError when no notebook tells which one to grade."""
    names = {signature.name for signature in known}
    if requested is not None:
        return _plan_for(requested, submissions, identities, names)
    routed = Counter(identity.assignment for identity in identities.values() if identity.assignment in names)
    if not routed and len(names) != 1:
        listed = ", ".join(sorted(names)) or "none"
        raise ConfigError(f"cannot tell which assignment to grade ({listed}): pass --assignment NAME")
    groups: dict[str, list[Submission]] = {}
    refusals: dict[str, str] = {}
    for submission in submissions:
        identity = identities[submission.given]
        name = identity.assignment if identity.assignment in names else _fallback(submission, known, routed)
        groups.setdefault(name, []).append(submission)
        if identity.assignment is not None and identity.assignment not in names:
            refusals[submission.given] = (f"this notebook is for assignment {identity.assignment}, which the solutions "
                                          f"folder does not hold ({', '.join(sorted(names))})")
        elif identity.candidates and name not in identity.candidates:
            refusals[submission.given] = (f"cannot tell which assignment this notebook is for (it defines the graded "
                                          f"functions of {', '.join(identity.candidates)}): grade it with --assignment NAME")
    return Plan(dict(sorted(groups.items())), refusals)


def _plan_for(requested: str, submissions: Sequence[Submission], identities: Mapping[str, Identity],
              names: set[str]) -> Plan:
    """--assignment NAME: every notebook is in its group; those for another assignment are refused."""
    refusals = {}
    for submission in submissions:
        identity = identities[submission.given]
        other = identity.assignment
        if other is not None and other != requested:
            hint = (f"grade it with --assignment {other} or without --assignment" if other in names
                    else "the solutions folder has no such assignment")
            refusals[submission.given] = f"this notebook is for assignment {other}, not {requested}: {hint}"
        elif identity.candidates and requested not in identity.candidates:
            refusals[submission.given] = (f"this notebook is for assignment {' or '.join(identity.candidates)}, "
                                          f"not {requested}: grade it with --assignment NAME")
    return Plan({requested: list(submissions)}, refusals)


def _fallback(submission: Submission, known: Sequence[Signature], routed: Counter) -> str:
    """The group of a notebook that names no assignment held here: the one its file is named after, else the
    assignment most notebooks of the run are for (which then grades it: unreadable, or defining no graded function)."""
    named = [signature.name for signature in known if signature.notebook.lower() == submission.path.name.lower()]
    if len(named) == 1:
        return named[0]
    if routed:
        return min(routed, key=lambda name: (-routed[name], name))
    return known[0].name
