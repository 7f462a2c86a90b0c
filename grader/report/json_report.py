"""The JSON report (README, "The JSON report"; plus the documented additions `first_wrong_step` and `carried_forward`)."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import TextIO

from grader import __version__
from grader.models import Grade


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
