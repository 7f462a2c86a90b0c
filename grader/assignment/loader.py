"""An assignment folder loaded: its rubric.toml read once, its reference run (with its case module) when first needed."""

from __future__ import annotations

import functools
import tomllib
from dataclasses import dataclass
from pathlib import Path

from grader.assignment import rubric as rubric_file
from grader.assignment.layout import Layout, layout_from
from grader.assignment.reference import Reference, load_reference
from grader.assignment.rubric import Rubric, rubric_from
from grader.assignment.settings import RunSettings, defaults_from
from grader.errors import ConfigError

RUBRIC = "rubric.toml"


@dataclass(frozen=True)
class RubricFile:
    """A rubric.toml, read: what is graded, where the folder's files are, and the run's defaults."""

    rubric: Rubric
    layout: Layout
    defaults: RunSettings


@dataclass(frozen=True)
class Assignment:
    """An assignment ready to grade against."""

    name: str
    layout: Layout
    rubric: Rubric
    defaults: RunSettings
    """The rubric file's seed and limits, before the user's options (RunSettings.with_options)."""

    @functools.cached_property
    def reference(self) -> Reference:
        """The reference notebook, run (with its case module) when first asked for: a re-grade served wholly
        from the cache never runs it (a cached grade was made with these very files, the reference included)."""
        return load_reference(self.layout, self.rubric)

    @property
    def directory(self) -> Path:
        return self.layout.directory


def available(solutions: Path) -> list[str]:
    """Names of the assignments in a solutions folder (sub-folders holding a rubric)."""
    return sorted(path.parent.name for path in solutions.glob(f"*/{RUBRIC}"))


def load(solutions: Path, name: str) -> Assignment:
    """Load assignment `name` from `solutions`; ConfigError when it is missing or malformed."""
    directory = solutions / name
    if not (directory / RUBRIC).is_file():
        names = ", ".join(available(solutions)) or "none"
        raise ConfigError(f"no assignment {name!r} in {solutions} (assignments there: {names})")
    read = load_rubric(directory / RUBRIC)
    return Assignment(name, read.layout, read.rubric, read.defaults)


def load_rubric(path: Path) -> RubricFile:
    """Parse and check a rubric.toml."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as error:
        raise ConfigError(f"cannot read rubric {path}: {error}") from None
    try:
        read = RubricFile(rubric_from(data, path), layout_from(data, path.parent), defaults_from(data))
    except (KeyError, TypeError, ValueError, AttributeError) as error:
        raise ConfigError(f"rubric {path} is malformed: missing or bad {error}") from None
    rubric_file.check(read.rubric, data, path)
    return read
