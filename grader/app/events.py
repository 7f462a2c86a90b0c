"""What the use cases report while they run, one frozen type per kind of news; `emit` is called synchronously,
so an interrupt while a listener prints is the use case's to handle."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from grader.models import Grade
from grader.report.summary import ClassSummary
from grader.session import Counts
from grader.shard import Shard


@dataclass(frozen=True)
class Started:
    """The submissions to grade are known."""

    total: int
    pages: int = 0
    """Feedback pages to write after grading (--feedback-html): counted by the progress too."""


@dataclass(frozen=True)
class Graded:
    """One submission's grade, in the order of the class."""

    grade: Grade


@dataclass(frozen=True)
class AllGraded:
    """Every submission has its grade; reports follow."""


@dataclass(frozen=True)
class OverridesRead:
    """The instructor's override file was read (grader/overrides.py): rows applied where they match, warnings."""

    path: Path
    applied: int
    """Rows that matched a submission of the run."""
    warnings: tuple[str, ...]
    """One per malformed line or line naming no submission of the run."""


@dataclass(frozen=True)
class LayersMissing:
    """Core sandbox layers not active here (grading goes on: --require-sandbox refuses instead)."""

    layers: tuple[str, ...]


@dataclass(frozen=True)
class Summarised:
    """One assignment's class summary (of more than one submission)."""

    assignment: str | None
    """None when the run grades one assignment only."""
    summary: ClassSummary


@dataclass(frozen=True)
class Tallied:
    """How many submissions the run holds and where their grades came from."""

    count: int
    shard: Shard | None
    assignments: tuple[str, ...]
    counts: Counts
    statuses: tuple[tuple[str, int], ...] = ()
    """(status, how many) of the submissions, in the order graded, error, timeout, invalid; absent ones left out."""


@dataclass(frozen=True)
class ReportsWritten:
    folder: Path
    files: tuple[str, ...]
    log: str


@dataclass(frozen=True)
class PageProgress:
    """`count` more feedback pages written (they are written in parallel, several at a time)."""

    count: int


@dataclass(frozen=True)
class PagesWritten:
    """Feedback pages (--feedback-html) of one assignment."""

    count: int
    folder: Path


@dataclass(frozen=True)
class Annotations:
    """GitHub workflow commands, to print as they are."""

    text: str


@dataclass(frozen=True)
class NoJobSummary:
    """GitHub mode without $GITHUB_STEP_SUMMARY: no job summary written."""


Event = Started | Graded | AllGraded | OverridesRead | LayersMissing | Summarised | Tallied | ReportsWritten | \
    PageProgress | PagesWritten | Annotations | NoJobSummary
Emit = Callable[[Event], None]
