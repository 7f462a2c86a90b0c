"""The gradebook CSV: one row per submission, one column per step's score."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from typing import TextIO

from grader.models import Grade

FIXED_COLUMNS = ("student", "submission", "status", "score", "max_score")


def render(step_names: Iterable[str], grades: Iterable[Grade]) -> str:
    buffer = io.StringIO()
    write(buffer, step_names, grades)
    return buffer.getvalue()


def write(stream: TextIO, step_names: Iterable[str], grades: Iterable[Grade]) -> None:
    steps = list(step_names)
    writer = csv.writer(stream, lineterminator="\n")
    writer.writerow([*FIXED_COLUMNS, *steps])
    for grade in grades:
        scores = {step.name: step.score for step in grade.steps}
        writer.writerow([_safe(grade.submission.student), _safe(grade.submission.given), grade.status,
                         _number(grade.score), _number(grade.max_score),
                         *(_number(scores.get(name, 0.0)) for name in steps)])


def _number(value: float) -> str:
    return f"{value:g}"


def _safe(text: str) -> str:
    """Neutralise spreadsheet formulas hidden in file names (=, +, -, @ at the start)."""
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text
