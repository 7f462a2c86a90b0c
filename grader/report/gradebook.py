"""The gradebook CSV: one row per submission, its assignment, one column per step's score."""

from __future__ import annotations

import csv
from collections.abc import Iterable
from typing import TextIO

from grader.models import Grade

FIXED_COLUMNS = ("student", "submission", "assignment", "status", "score", "max_score")


class CsvWriter:
    """Writes the gradebook one row at a time; a step of another assignment than the row's is left blank."""

    def __init__(self, stream: TextIO, step_names: Iterable[str]) -> None:
        self._steps = list(step_names)
        self._writer = csv.writer(stream, lineterminator="\n")
        self._writer.writerow([*FIXED_COLUMNS, *self._steps])

    def add(self, grade: Grade, assignment: str) -> None:
        scores = {step.name: _number(step.score) for step in grade.steps}
        self._writer.writerow([_safe(grade.submission.student), _safe(grade.submission.given), _safe(assignment),
                               grade.status, _number(grade.score), _number(grade.max_score),
                               *(scores.get(name, "") for name in self._steps)])


def _number(value: float) -> str:
    return f"{value:g}"


def _safe(text: str) -> str:
    """Neutralise spreadsheet formulas hidden in file names (=, +, -, @ at the start)."""
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text
