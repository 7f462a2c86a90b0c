"""The JSON report (README, "The JSON report"; plus the documented additions `first_wrong_step`, `carried_forward`
and `adjustment`)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, TextIO

from grader import __version__
from grader.models import Grade
from grader.report.writer import Format, PiecewiseFile, Run, Writer

if TYPE_CHECKING:
    from grader.report.section import ClassInfo, Section
    from grader.shard import Shard


def grade_document(grade: Grade) -> dict:
    return {
        "submission": grade.submission.given,
        "student": grade.submission.student,
        "status": grade.status,
        "score": grade.score,
        "max_score": grade.max_score,
        "first_wrong_step": grade.first_wrong_step,
        "steps": [
            {
                "name": step.name,
                "status": step.status,
                "score": step.score,
                "max_score": step.max_score,
                "cases_passed": step.cases_passed,
                "cases_total": step.cases_total,
                "message": step.message,
                "carried_forward": step.carried_forward,
            }
            for step in grade.steps
        ],
        "diagnoses": [
            {"step": d.step, "misconception": d.misconception, "message": d.message} for d in grade.diagnoses
        ],
        "messages": list(grade.messages),
        "adjustment": None if grade.adjustment is None else {
            "original_score": grade.adjustment.original,
            "changes": [{"change": change, "reason": reason}
                        for change, reason in zip(grade.adjustment.changes, grade.adjustment.reasons)],
        },
    }


def head(assignment: str | None, max_score: float | None) -> dict:
    """The report's fields besides its submissions (None in a run over several assignments)."""
    return {"grader_version": __version__, "assignment": assignment, "max_score": max_score}


class JsonWriter:
    """Writes the report one submission at a time, each on a line of its own.

    The fields are indented as usual; a submission is one compact line, which Python's C JSON
    encoder writes many times faster than an indented one (and which diffs line by line).
    """

    def __init__(self, stream: TextIO, fields: dict) -> None:
        self._stream = stream
        self._count = 0
        opening = json.dumps(fields, indent=2)
        stream.write(opening[:-2] + (",\n" if fields else "\n") + '  "submissions": [')

    def add(self, submission: dict) -> None:
        self._stream.write(("\n    " if self._count == 0 else ",\n    ") + json.dumps(submission))
        self._count += 1

    def finish(self) -> None:
        self._stream.write("\n  ]\n}\n" if self._count else "]\n}\n")


def write(stream: TextIO, fields: dict, submissions: Iterable[dict]) -> None:
    writer = JsonWriter(stream, fields)
    for submission in submissions:
        writer.add(submission)
    writer.finish()


def json_fields(info: ClassInfo, shard: Shard | None) -> dict:
    """The report's fields; a shard's report also says which shard it is, for `grade-merge`."""
    fields = head(info.assignment, info.max_score)
    if shard is not None:
        fields["shard"] = {"index": shard.index, "count": shard.count, "title": info.title}
    return fields


def mixed_fields(infos: Sequence[ClassInfo]) -> dict:
    """The fields of a run over several assignments: no single `assignment` or `max_score`, each one listed."""
    fields = head(None, None)
    fields["assignments"] = [{"name": info.assignment, "title": info.title, "max_score": info.max_score} for info in infos]
    return fields


def document(position: int, grade: Grade, shard: Shard | None, assignment: str | None = None) -> dict:
    """A submission's entry in the JSON report; in a shard, with its position in the whole class; in a run over
    several assignments, with the one it was graded against."""
    entry = grade_document(grade)
    if assignment is not None:
        entry["assignment"] = assignment
    if shard is not None:
        entry["position"] = position
    return entry


class _ResultsWriter(Writer):
    """results.json: one for the whole run, each submission naming its assignment when there are several."""

    def __init__(self, run: Run) -> None:
        self._run = run
        fields = mixed_fields(run.infos) if run.mixed else json_fields(run.infos[0], run.shard)
        self._file = PiecewiseFile(run, "results.json", lambda stream: JsonWriter(stream, fields))
        self._assignment: str | None = None

    def begin(self, section: Section) -> None:
        self._assignment = section.info.assignment if self._run.mixed else None

    def add(self, position: int, grade: Grade) -> None:
        self._file.call("add", document(position, grade, self._run.shard, self._assignment))

    def close(self, failure: BaseException | None = None) -> None:
        self._file.close(failure)


FORMATS = (Format("json", "results.json, the JSON report of every grade and step", _ResultsWriter),)
