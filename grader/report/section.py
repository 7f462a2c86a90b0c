"""What every report of a run is made of: the batch's facts and, per assignment, its grades.

A module of its own, under every format and the registry, so that a format imports what it is fed
without importing the module that runs the formats.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from grader.models import Grade
from grader.report.summary import ClassSummary


@dataclass(frozen=True)
class ClassInfo:
    """What every report says about the batch besides its grades."""

    assignment: str
    title: str
    step_names: tuple[str, ...]
    max_score: float
    fail_under: float | None = None
    """The --fail-under threshold, which the GitHub summary and annotations report against."""
    feedback: str | None = None
    """The folder of the students' feedback pages relative to the output folder, when this run writes them."""


@dataclass(frozen=True)
class Section:
    """The grades of one assignment in a run: what its class report is made of."""

    info: ClassInfo
    summary: ClassSummary
    entries: Iterable[tuple[int, Grade]]
    """(position in the whole class, grade), read once."""
