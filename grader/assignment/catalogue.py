"""The misconception catalogue: known mistakes, each an alternative formula for one step.

A TOML file of the assignment folder, named by the rubric's [feedback] table. Each entry's
formulas are checked now against the names they may use (grader/diagnosis.py matches them).
"""

from __future__ import annotations

import ast
import tomllib
import types
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from grader.assignment.reference import Reference
from grader.assignment.rubric import Rubric
from grader.assignment.source import compile_formula
from grader.errors import ConfigError

_FIELDS = frozenset({"name", "step", "formula", "explanation", "hint"})
_TEXTS = ("name", "step", "explanation", "hint")


@dataclass(frozen=True)
class Misconception:
    """One known mistake: an alternative formula for one step."""

    name: str
    """Stable identifier, reported as the diagnosis's `misconception`."""
    step: str
    """The step whose value the mistake produces."""
    formulas: tuple[types.CodeType, ...]
    """Ways of writing the same mistake; any one of them matching names it."""
    explanation: str
    """What the student did and why it is wrong."""
    hint: str
    """A nudge towards the fix; never the answer."""

    @property
    def message(self) -> str:
        return f"{self.explanation} Hint: {self.hint}"


@dataclass(frozen=True)
class Catalogue:
    """An assignment's known mistakes, ready to match."""

    entries: tuple[Misconception, ...]
    namespace: dict
    """Globals the formulas run in: the reference notebook's (np, sigmoid, ...)."""
    steps: Mapping[str, types.CodeType]
    """The reference's own step formulas, to carry an earlier mistake through to the returned values."""


def load(path: Path, rubric: Rubric, reference: Reference) -> Catalogue:
    """Read and check a catalogue; ConfigError when it is missing or malformed."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as error:
        raise ConfigError(f"cannot read the misconception catalogue {path}: {error}") from None
    raw = data.get("misconception")
    if set(data) != {"misconception"} or not isinstance(raw, list) or not raw:
        raise ConfigError(f"misconception catalogue {path}: expected one or more [[misconception]] tables and nothing else")
    entries = tuple(_entry(item, f"misconception catalogue {path}, entry {number}", rubric, reference)
                    for number, item in enumerate(raw, start=1))
    names = [entry.name for entry in entries]
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise ConfigError(f"misconception catalogue {path}: names used twice: {', '.join(repeated)}")
    return Catalogue(entries, reference.namespace, reference.formulas)


def _entry(item: Any, where: str, rubric: Rubric, reference: Reference) -> Misconception:
    if not isinstance(item, dict) or set(item) != _FIELDS:
        raise ConfigError(f"{where}: needs exactly the keys {', '.join(sorted(_FIELDS))}")
    if not all(isinstance(item[key], str) and item[key].strip() for key in _TEXTS):
        raise ConfigError(f"{where}: {', '.join(_TEXTS)} must be non-empty text")
    step = item["step"]
    if step not in rubric.step_names:
        raise ConfigError(f"{where}: {step!r} is not a step of the rubric ({', '.join(rubric.step_names)})")
    sources = item["formula"] if isinstance(item["formula"], list) else [item["formula"]]
    if not sources or not all(isinstance(source, str) for source in sources):
        raise ConfigError(f"{where}: formula must be an expression, or a list of expressions")
    # Names a formula may use, checked now: a typo would otherwise just never match anyone. A later step is
    # not available (at this point the reference has not computed it), unless it is also a parameter (an
    # argument updated in place): then the name means the argument as it is at that point.
    later = set(rubric.step_names[rubric.step_names.index(step) + 1:]) - set(reference.parameters)
    for source in sources:
        named = _later_steps_named(source, later)
        if named:
            raise ConfigError(f"{where}: formula {source!r} uses {', '.join(named)}, a step after {step}: a formula "
                              "may use the parameters, the reference function's locals, the earlier steps and the "
                              "notebook's names")
    known = reference.known_names() - later
    formulas = tuple(compile_formula(source, known, where) for source in sources)
    return Misconception(item["name"].strip(), step, formulas, item["explanation"].strip(), item["hint"].strip())


def _later_steps_named(source: str, later: set[str]) -> list[str]:
    try:
        tree = ast.parse(source.strip(), mode="eval")
    except SyntaxError:
        return []  # compile_formula says what is wrong with it
    return sorted({node.id for node in ast.walk(tree) if isinstance(node, ast.Name)} & later)
