"""What a report format is: a Writer fed the grades of a run once, section by section, and its registry entry.

A format's module declares `FORMATS`, each a `Format` (name, one line for `--format`'s help,
and how to open its Writer on a run); grader.report.formats lists the modules. A Writer
records each file it puts in place, or fails to, in the run's Ledger: a file that fails (a full
disk, a bug on one row) costs that file alone.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Protocol

from grader.report import files

if TYPE_CHECKING:
    from grader.models import Grade
    from grader.report.section import ClassInfo, Section
    from grader.shard import Shard

_UNSAFE_IN_FILE_NAME = re.compile(r"[^A-Za-z0-9._-]+")


def file_safe(name: str, fallback: str) -> str:
    """`name` as a file name: runs of other characters than letters, digits, `.`, `_`, `-` become `_`."""
    return _UNSAFE_IN_FILE_NAME.sub("_", name).strip("._") or fallback


@dataclass
class Ledger:
    """The files a run wrote, and those it could not write with why."""

    written: list[str] = field(default_factory=list)
    failed: dict[str, Exception] = field(default_factory=dict)

    def attempt(self, name: str, write: Callable[[], None]) -> None:
        try:
            write()
        except Exception as error:
            self.failed[name] = error
            return
        self.written.append(name)


@dataclass(frozen=True)
class Run:
    """Where a run's reports go and what every writer knows before the first grade."""

    out: Path
    infos: tuple[ClassInfo, ...]
    shard: Shard | None
    ledger: Ledger

    @property
    def mixed(self) -> bool:
        """Several assignments in one run: per-assignment files are named after their assignment."""
        return len(self.infos) > 1

    def per_assignment(self, stem: str, suffix: str, info: ClassInfo) -> str:
        return f"{stem}-{file_safe(info.assignment, 'assignment')}{suffix}" if self.mixed else f"{stem}{suffix}"


class Writer(Protocol):
    """One format's files: `begin` each section (assignment), `add` its grades in order, `end` it; then `close`.

    `close(failure)` with a failure (Ctrl-C...) removes what was written; without, puts the files in place.
    Subclasses inherit these do-nothing defaults and override what their format needs.
    """

    def begin(self, section: Section) -> None:
        return None

    def add(self, position: int, grade: Grade) -> None:
        return None

    def end(self) -> None:
        return None

    def close(self, failure: BaseException | None = None) -> None:
        return None


@dataclass(frozen=True)
class Format:
    """A report `--format` offers."""

    name: str
    description: str
    """One line for `grade --help`: the file(s) written and what they are for."""
    open: Callable[[Run], Writer]


class PiecewiseFile:
    """One report file written grade by grade through a stream writer (`add`, optionally `finish`)."""

    def __init__(self, run: Run, name: str, make: Callable[[IO], Any]) -> None:
        self.name = name
        self._ledger = run.ledger
        self.error: Exception | None = None
        self._context = files.atomic_stream(run.out / name)
        try:
            stream = self._context.__enter__()
        except Exception as error:
            self.error = error
            return
        try:
            self._writer = make(stream)
        except Exception as error:
            self._abandon(error)

    def call(self, method: str, *arguments) -> None:
        """The stream writer's `method`, if it has one (a CSV writer has nothing to finish)."""
        if self.error is None and hasattr(self._writer, method):
            try:
                getattr(self._writer, method)(*arguments)
            except Exception as error:
                self._abandon(error)

    def close(self, failure: BaseException | None = None) -> None:
        """Finish and put the file in place, or with `failure` remove what was written of it."""
        if failure is not None:
            if self.error is None:
                self._context.__exit__(type(failure), failure, failure.__traceback__)
            return
        self.call("finish")
        if self.error is None:
            try:
                self._context.__exit__(None, None, None)
            except Exception as error:
                self.error = error
        if self.error is None:
            self._ledger.written.append(self.name)
        else:
            self._ledger.failed[self.name] = self.error

    def _abandon(self, error: Exception) -> None:
        self.error = error
        try:
            self._context.__exit__(type(error), error, error.__traceback__)
        except Exception:  # the context re-raises the error it was given: it is kept in self.error
            pass
