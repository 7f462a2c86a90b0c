"""The gradebook CSV: one row per submission, its assignment, one column per step's score.

It starts with a UTF-8 byte order mark: without one, Excel reads a CSV file in the machine's
legacy code page and garbles every non-ASCII name; Python (`utf-8-sig`), pandas, LibreOffice
and LMS imports read it as plain UTF-8.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable
from typing import TYPE_CHECKING, TextIO

from grader.models import Grade
from grader.report.writer import Format, PiecewiseFile, Run, Writer

if TYPE_CHECKING:
    from grader.report.section import Section

BYTE_ORDER_MARK = "\ufeff"
FIXED_COLUMNS = ("student", "submission", "assignment", "status", "score", "max_score")
ADJUSTMENT_COLUMNS = ("original_score", "adjustment")
"""Last, after the steps: the score before an instructor's override and the override (grader/overrides.py), or blank."""


class CsvWriter:
    """Writes the gradebook one row at a time; a step of another assignment than the row's is left blank."""

    def __init__(self, stream: TextIO, step_names: Iterable[str]) -> None:
        self._steps = list(step_names)
        stream.write(BYTE_ORDER_MARK)
        self._writer = csv.writer(stream, lineterminator="\n")
        self._writer.writerow([*FIXED_COLUMNS, *self._steps, *ADJUSTMENT_COLUMNS])

    def add(self, grade: Grade, assignment: str) -> None:
        scores = {step.name: _number(step.score) for step in grade.steps}
        self._writer.writerow([safe(grade.submission.student), safe(grade.submission.given), safe(assignment),
                               grade.status, _number(grade.score), _number(grade.max_score),
                               *(scores.get(name, "") for name in self._steps),
                               *_adjustment(grade)])


def _adjustment(grade: Grade) -> tuple[str, str]:
    if grade.adjustment is None:
        return "", ""
    return _number(grade.adjustment.original), safe(grade.adjustment.text)


def _number(value: float) -> str:
    return f"{value:g}"


def safe(text: str) -> str:
    """Neutralise spreadsheet formulas hidden in file names (=, +, -, @ at the start)."""
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


class _GradebookWriter(Writer):
    """gradebook.csv: one for the whole run, with the steps of every assignment as columns."""

    def __init__(self, run: Run) -> None:
        steps = list(dict.fromkeys(name for info in run.infos for name in info.step_names))
        self._file = PiecewiseFile(run, "gradebook.csv", lambda stream: CsvWriter(stream, steps))
        self._assignment = ""

    def begin(self, section: Section) -> None:
        self._assignment = section.info.assignment

    def add(self, position: int, grade: Grade) -> None:
        self._file.call("add", grade, self._assignment)

    def close(self, failure: BaseException | None = None) -> None:
        self._file.close(failure)


FORMATS = (Format("csv", "gradebook.csv, one row per submission with each step's score", _GradebookWriter),)
