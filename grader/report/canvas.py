"""canvas.csv: the scores in the columns of Canvas's gradebook CSV, which its Gradebook "Import" accepts as they are.

Canvas exports and imports a gradebook with the columns Student, ID, SIS User ID, SIS Login ID
and Section, then one column per assignment, and a "Points Possible" row under the header.
The grader knows a student by the id it took from the file or folder name, so that id fills
`Student` and `SIS User ID`; Canvas's own numeric `ID`, the login and the section are left
blank for Canvas to match the row by its SIS User ID. A run over several assignments gives one
column per assignment and one row per student. Rows are held (one score per student and
assignment) because a student's scores of several assignments share a row.
"""

from __future__ import annotations

import csv
from typing import TYPE_CHECKING

from grader.report import files
from grader.report.gradebook import BYTE_ORDER_MARK, safe
from grader.report.writer import Format, Run, Writer

if TYPE_CHECKING:
    from grader.models import Grade
    from grader.report.section import Section

FILE_NAME = "canvas.csv"
STUDENT_COLUMNS = ("Student", "ID", "SIS User ID", "SIS Login ID", "Section")
POINTS_POSSIBLE = "Points Possible"


class _CanvasWriter(Writer):
    def __init__(self, run: Run) -> None:
        self._run = run
        self._scores: dict[str, dict[str, float]] = {}
        self._column = 0

    def begin(self, section: Section) -> None:
        self._column = self._run.infos.index(section.info)

    def add(self, position: int, grade: Grade) -> None:
        # Two notebooks of one student in one assignment: the first one graded keeps the cell.
        self._scores.setdefault(grade.submission.student, {}).setdefault(self._column, grade.score)

    def close(self, failure: BaseException | None = None) -> None:
        if failure is None:
            self._run.ledger.attempt(FILE_NAME, self._write)

    def _write(self) -> None:
        infos = self._run.infos
        with files.atomic_stream(self._run.out / FILE_NAME) as stream:
            stream.write(BYTE_ORDER_MARK)
            writer = csv.writer(stream, lineterminator="\n")
            writer.writerow([*STUDENT_COLUMNS, *(safe(info.title) for info in infos)])
            writer.writerow([POINTS_POSSIBLE, "", "", "", "", *(f"{info.max_score:g}" for info in infos)])
            for student, scores in self._scores.items():
                cells = [f"{scores[column]:g}" if column in scores else "" for column in range(len(infos))]
                writer.writerow([safe(student), "", safe(student), "", "", *cells])


FORMATS = (Format("canvas", f"{FILE_NAME}, the scores in the columns Canvas's gradebook import accepts", _CanvasWriter),)
