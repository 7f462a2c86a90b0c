"""Which assignment each notebook is for, so a notebook is only ever graded against its own.

The rule, per notebook:
1. Metadata naming an assignment the solutions folder does not hold: that assignment (its stub
   is not here to tell its given code from its answers, so the code cannot overrule it).
2. Its code. Every assignment whose graded function the notebook defines is a candidate. One
   whose definition is, statement for statement, code another assignment's stub *gives* proves
   nothing (a backward_pass notebook defines forward_pass exactly as the backward_pass stub
   gives it). One candidate left that does not merely copy: the notebook is for it. This code
   wins over metadata naming another assignment held here, so editing the metadata never buys
   the marks of another assignment whose code the stub hands out.
3. Else, when no candidate is its own, its metadata: the assignment its stub recorded
   (`metadata.backprop_grader.assignment`). (A backward_pass notebook whose backward_pass was
   deleted or renamed still goes to backward_pass, never to the forward_pass it copies.) With
   the graded functions of several assignments written by the student, the metadata does not
   decide (it could pick the easiest), unless those assignments grade one same function; the
   notebook is then unknown among them (rule 5).
4. Else the only assignment whose graded function it defines, even as a copy (a forward pass
   written exactly as the course gives it, in a notebook without metadata).
5. Else it is unknown: unreadable, defining no graded function, or defining the graded
   functions of several assignments alike (`candidates`).

Definitions are compared as syntax trees, so comments and spacing do not count. Student code
is parsed here, never run.
"""

from __future__ import annotations

import ast
import functools
import hashlib
import json
import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from grader import fastjson, notebook, store
from grader.assignment import RUBRIC, load_rubric
from grader.assignment.stub import strip_solutions
from grader.errors import ConfigError
from grader.models import Submission


@dataclass(frozen=True)
class Signature:
    """What tells an assignment's notebooks apart: its graded function and the code its stub gives."""

    name: str
    function: str
    notebook: str
    """File name of its notebook (students usually keep it)."""
    given: Mapping[str, frozenset[str]]
    """Function name -> how its stub defines it (syntax-tree dumps), for every function but the graded one."""


@dataclass(frozen=True)
class Identity:
    """The assignment a notebook is for, as far as it can be told."""

    assignment: str | None
    """None when it cannot be told."""
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
            read = load_rubric(solutions / name / RUBRIC)
            rubric = read.rubric
            try:
                book = notebook.read(read.layout.reference)
            except notebook.InvalidNotebook as error:
                raise ConfigError(f"reference notebook {read.layout.reference} {error}") from None
        except ConfigError:
            if skip_broken:
                continue
            raise
        given: dict[str, set[str]] = {}
        for cell in book.cells:
            for node in _definitions(strip_solutions(cell.source)):
                if node.name != rubric.function:
                    given.setdefault(node.name, set()).add(ast.dump(node))
        frozen = {function: frozenset(dumps) for function, dumps in given.items()}
        found.append(Signature(name, rubric.function, read.layout.notebook, frozen))
    return found


def identify(path: Path, known: Sequence[Signature]) -> Identity:
    """Which of the `known` assignments the notebook at `path` is for (see the module's rule)."""
    try:
        raw = notebook.read_bytes(path)
    except notebook.InvalidNotebook:
        return Identity(None)
    return _identify(raw, known)


def fingerprint(known: Sequence[Signature]) -> str:
    """Everything besides a notebook's bytes that decides its identity: the signatures and the grader's code."""
    digest = hashlib.sha256(store.grader_source_digest().encode())
    for signature in known:
        given = sorted((function, sorted(dumps)) for function, dumps in signature.given.items())
        digest.update(json.dumps([signature.name, signature.function, signature.notebook, given]).encode() + b"\0")
    return digest.hexdigest()


def identify_remembered(path: Path, known: Sequence[Signature], memo: store.GradeLog,
                        known_print: str) -> tuple[Identity, bytes | None]:
    """`identify`, remembered in `memo` under the digest of the notebook's bytes and the `fingerprint` of `known`;
    and that SHA-256 of the bytes read (None when they could not be), with which a grade kept for the same bytes is
    found without reading them again.

    Parsing a notebook's JSON is most of what an unchanged re-grade served from the cache costs;
    the identity of the same bytes against the same signatures and code cannot differ.
    """
    try:
        raw = notebook.read_bytes(path)
    except notebook.InvalidNotebook:
        return Identity(None), None
    read = hashlib.sha256(raw).digest()
    key = hashlib.sha256(f"{known_print}\0{read.hex()}".encode()).hexdigest()
    remembered = _identity_of(memo.get(key), {signature.name for signature in known})
    if remembered is not None:
        return remembered, read
    identity = _identify(raw, known)
    memo.append(key, {"assignment": identity.assignment, "candidates": list(identity.candidates)})
    return identity, read


def _identity_of(record: dict | None, names: set[str]) -> Identity | None:
    """The identity a memo record holds, or None when it holds none that could have been made here."""
    if record is None:
        return None
    assignment, candidates = record.get("assignment"), record.get("candidates")
    if not (assignment is None or isinstance(assignment, str)) or not isinstance(candidates, list):
        return None
    if not all(isinstance(name, str) and name in names for name in candidates):
        return None
    return Identity(assignment, tuple(candidates))


def _identify(raw: bytes, known: Sequence[Signature]) -> Identity:
    read = _read(raw)
    if read is None:
        return Identity(None)
    sources, named = read
    if named is not None and named not in {signature.name for signature in known}:
        # Its stub is not here to tell its given code from its answers: the code cannot overrule the metadata.
        return Identity(named)
    defining = {signature.function: [source for source in sources if _defines(source, signature.function)]
                for signature in known}
    if len(known) == 1:  # the code can only confirm the one assignment: no need to parse it
        if defining[known[0].function]:
            return Identity(known[0].name)
        return Identity(named)
    candidates = [signature for signature in known if defining[signature.function]]
    own = [signature.name for signature in candidates
           if not _copied(signature.function, defining[signature.function], signature, known)]
    if len(own) == 1:
        return Identity(own[0])
    # The graded functions of two assignments, written by the student: the metadata, which the student can
    # edit, must not pick the easier one. It still tells apart assignments that grade one same function.
    function_of = {signature.name: signature.function for signature in known}
    if named is not None and all(function_of[name] == function_of.get(named) for name in own):
        return Identity(named)
    if len(candidates) == 1:
        return Identity(candidates[0].name)
    return Identity(None, candidates=tuple(own or (signature.name for signature in candidates)))


def _defines(source: str, function: str) -> bool:
    """Whether `def function(` appears in the text as a word (what `\\bdef\\s+function\\s*\\(` finds).

    The pattern starts with its literal `def`, which the regex engine finds with a fast scan; a leading `\\b`
    made it try a match at every character: 70 us a notebook of five assignments, on the path to the first job.
    A `def` right after a word character (`undef f(`) is passed over, and the search goes on from the next one.
    """
    if function not in source:
        return False
    pattern = _definition_pattern(function)
    found = pattern.search(source)
    while found is not None:
        start = found.start()
        if start == 0 or _WORD.match(source, start - 1) is None:
            return True
        found = pattern.search(source, start + 1)
    return False


_WORD = re.compile(r"\w")


@functools.lru_cache(maxsize=64)
def _definition_pattern(function: str) -> re.Pattern:
    return re.compile(rf"def\s+{re.escape(function)}\s*\(")


def _copied(function: str, sources: list[str], signature: Signature, known: Sequence[Signature]) -> bool:
    """Whether the notebook's (last) definition of `function`, this assignment's graded function, is code
    another assignment's stub gives. Only then is the notebook's code parsed."""
    givers = [other.given[function] for other in known if other is not signature and function in other.given]
    if not givers:
        return False
    dumps = [dump for source in sources if (dump := _last_definition(source, function)) is not None]
    return bool(dumps) and any(dumps[-1] in given for given in givers)


@functools.lru_cache(maxsize=256)
def _last_definition(source: str, function: str) -> str | None:
    """The syntax-tree dump of the cell's last definition of `function`; cached, as most of a class shares the
    given cells verbatim."""
    found = [node for node in _definitions(source) if node.name == function]
    return ast.dump(found[-1]) if found else None


def _read(raw: bytes) -> tuple[list[str], str | None] | None:
    """The code cells' sources and the metadata's assignment; None if it is not a notebook.

    The bytes come from notebook.read_bytes, so a link, FIFO, device or oversized file is never
    followed or read here either. A plain JSON read serves the usual v4 file; anything else goes
    through notebook.parse, which upgrades older versions.
    """
    try:
        data = fastjson.loads(raw.decode("utf-8-sig"))
        cells = data["cells"] if data.get("nbformat") == 4 else None
        metadata = data.get("metadata") or {}
        sources = [cell["source"] if isinstance(cell["source"], str) else "".join(cell["source"])
                   for cell in cells if cell.get("cell_type") == "code"]
        tag = metadata.get(notebook.METADATA_KEY) or {}
        named = tag.get("assignment")
        return sources, named if isinstance(named, str) else None
    except (ValueError, RecursionError, KeyError, TypeError, AttributeError):
        pass
    try:
        book = notebook.parse(raw)
    except notebook.InvalidNotebook:
        return None
    return [cell.source for cell in book.cells], book.assignment


def _definitions(source: str) -> list[ast.FunctionDef]:
    """The functions a cell defines as it runs (top level, or inside if/try/with/for); none if it is not Python."""
    try:
        tree = ast.parse(_without_ipython(source))
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return []
    found, pending = [], list(tree.body)
    while pending:
        statement = pending.pop()
        if isinstance(statement, ast.FunctionDef):
            found.append(statement)
        elif not isinstance(statement, ast.ClassDef | ast.AsyncFunctionDef):
            for name in ("body", "orelse", "finalbody", "handlers", "cases"):
                pending.extend(node for node in getattr(statement, name, ()) if isinstance(node, ast.AST))
    return found


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
