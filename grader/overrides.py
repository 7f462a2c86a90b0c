"""An instructor's overrides of grades: read OUT/overrides.csv, apply its rows to the grades of a run.

The file is the instructor's: the grader only reads it, every run, after grading and before the
reports, so a regrade (new notebooks, a new grader) keeps every override. The grades in the
results log and the cache stay as grading made them; only what the reports show is adjusted.

Columns (a header line first; `#` starts a comment line; README, "Overriding a grade"):
    student     the student id as the reports show it
    assignment  optional: the assignment's name (blank: the student's submission of any assignment)
    change      `7` (the new score), `+1` / `-2` (points added or taken), `-10%` (a percentage of the score)
    reason      required: why (a regrade request, a late penalty), shown in every report
    by, when    optional: who decided it and when, shown with the reason
    beyond_max  optional: `yes` lets the score exceed the maximum (bonus points); otherwise it is kept within 0..max
Rows of one submission apply in the file's order. A malformed row, or one naming no submission of
the run, is a warning naming its line, never a crash and never silently dropped.
"""

from __future__ import annotations

import csv
import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from grader.models import Adjustment, Grade
from grader.text import one_line

FILE_NAME = "overrides.csv"
COLUMNS = ("student", "assignment", "change", "reason", "by", "when", "beyond_max")
_REQUIRED = ("student", "change", "reason")
_CHANGE = re.compile(r"^(?P<sign>[+-]?)(?P<number>\d+(?:\.\d+)?|\.\d+)(?P<percent>%?)$")
_LIMIT = 1_000_000
"""Characters of the file read at most: an override file is a few lines; a huge one is a mistake, not read whole."""


@dataclass(frozen=True)
class Override:
    """One row of the file."""

    line: int
    student: str
    assignment: str | None
    change: str
    """As written, without spaces: "7", "+1", "-2", "-10%"."""
    reason: str
    beyond_max: bool = False

    def applied(self, score: float, max_score: float) -> float:
        """The score after this row."""
        match = _CHANGE.match(self.change)
        number = float(match["number"])
        if match["percent"]:
            changed = score * (1 + (-1 if match["sign"] == "-" else 1) * number / 100)
        elif match["sign"]:
            changed = score + (-number if match["sign"] == "-" else number)
        else:
            changed = number
        return max(0.0, changed if self.beyond_max else min(changed, max_score))


@dataclass(frozen=True)
class Overrides:
    """The rows of an override file that read well, and a warning per line that did not."""

    rows: tuple[Override, ...] = ()
    warnings: tuple[str, ...] = ()

    def apply(self, grade: Grade, assignment: str) -> Grade:
        """`grade` with every row for its student (and assignment) applied in order; unchanged without one."""
        rows = [row for row in self.rows if _matches(row, grade.submission.student, assignment)]
        if not rows:
            return grade
        score = grade.score
        for row in rows:
            score = row.applied(score, grade.max_score)
        adjustment = Adjustment(grade.score, tuple(row.change for row in rows), tuple(row.reason for row in rows))
        return replace(grade, score=round(score, 6), adjustment=adjustment)

    def unmatched(self, students: Iterable[tuple[str, str]], path: Path) -> tuple[str, ...]:
        """A warning per row naming no submission of the run, given its (student, assignment) pairs."""
        present = set(students)
        return tuple(f"warning: {path} line {row.line}: no submission of {row.student!r}"
                     + (f" for {row.assignment}" if row.assignment else "") + " in this run; row not applied"
                     for row in self.rows
                     if not any(_matches(row, student, assignment) for student, assignment in present))


def _matches(row: Override, student: str, assignment: str) -> bool:
    return row.student == student and row.assignment in (None, assignment)


def read(path: Path) -> Overrides:
    """The overrides in `path`; no file: none. Never raises for what the file holds."""
    try:
        with open(path, encoding="utf-8-sig", newline="") as stream:
            text = stream.read(_LIMIT + 1)
    except FileNotFoundError:
        return Overrides()
    except (OSError, UnicodeDecodeError) as error:
        return Overrides(warnings=(f"warning: {path} not read ({one_line(str(error))}); no override applied",))
    warnings = []
    if len(text) > _LIMIT:
        warnings.append(f"warning: {path} is over {_LIMIT} characters; only its beginning is read")
        text = text[:_LIMIT]
    return _parse(text.splitlines(), path, warnings)


def _parse(lines: Sequence[str], path: Path, warnings: list[str]) -> Overrides:
    numbered = [(number, line) for number, line in enumerate(lines, start=1)
                if line.strip() and not line.lstrip().startswith("#")]
    if not numbered:
        return Overrides(warnings=tuple(warnings))
    header_line, header = numbered[0]
    names = [name.strip().lower() for name in _cells(header) or []]
    missing = [name for name in _REQUIRED if name not in names]
    if missing:
        warnings.append(f"warning: {path} line {header_line}: the header lacks column(s) {', '.join(missing)} "
                        f"(expected {','.join(COLUMNS)}); no override applied")
        return Overrides(warnings=tuple(warnings))
    unknown = [name for name in names if name not in COLUMNS]
    if unknown:
        warnings.append(f"warning: {path} line {header_line}: unknown column(s) {', '.join(map(repr, unknown))} "
                        f"ignored (known: {', '.join(COLUMNS)})")
    rows = []
    for number, line in numbered[1:]:
        cells = _cells(line)
        if cells is None:
            warnings.append(f"warning: {path} line {number}: not read as CSV (a NUL, or a cell over "
                            f"{csv.field_size_limit()} characters); row not applied")
            continue
        if len(cells) > len(names):
            warnings.append(f"warning: {path} line {number}: {len(cells)} cells for {len(names)} columns; "
                            "row not applied")
            continue
        row, problem = _row(number, dict(zip(names, (cell.strip() for cell in cells))))
        if problem:
            warnings.append(f"warning: {path} line {number}: {problem}; row not applied")
        else:
            rows.append(row)
    return Overrides(tuple(rows), tuple(warnings))


def _cells(line: str) -> list[str] | None:
    """The cells of one line, or None where the csv module refuses it."""
    try:
        return next(csv.reader([line]), [])
    except csv.Error:
        return None


def _row(number: int, cells: dict[str, str]) -> tuple[Override | None, str | None]:
    student, change, reason = (one_line(cells.get(name, "")) for name in _REQUIRED)
    change = change.replace(" ", "")
    if not student:
        return None, "no student"
    if not reason:
        return None, "no reason (every override says why)"
    match = _CHANGE.match(change)
    if not match or not math.isfinite(float(match["number"])):
        return None, (f"change {change!r} is not a score (7), points (+1, -2) or a percentage (-10%)" if change
                      else "no change")
    if match["percent"] and not match["sign"]:
        return None, f"change {change!r}: a percentage needs a sign (-10% takes off, +5% adds)"
    beyond = cells.get("beyond_max", "").lower()
    if beyond not in ("", "yes", "no"):
        return None, f"beyond_max {beyond!r} is neither yes nor no"
    who = ", ".join(one_line(cells[name]) for name in ("by", "when") if cells.get(name))
    return Override(number, student, one_line(cells.get("assignment", "")) or None, change,
                    reason + (f" [{who}]" if who else ""), beyond == "yes"), None
