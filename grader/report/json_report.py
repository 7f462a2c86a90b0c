"""The JSON report of DESIGN.md §5 (plus the documented additions `first_wrong_step` and `carried_forward`)."""

from __future__ import annotations

import io
import json
import textwrap
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


def render(assignment: str, max_score: float, grades: Iterable[Grade]) -> str:
    buffer = io.StringIO()
    write(buffer, head(assignment, max_score), (grade_document(grade) for grade in grades))
    return buffer.getvalue()


def head(assignment: str, max_score: float) -> dict:
    """The report's fields besides its submissions."""
    return {"grader_version": __version__, "assignment": assignment, "max_score": max_score}


def write(stream: TextIO, fields: dict, submissions: Iterable[dict]) -> None:
    """The report, one submission at a time: the same text as `json.dumps({**fields, "submissions": [...]}, indent=2)`."""
    opening = json.dumps(fields, indent=2)
    stream.write(opening[:-2] + (",\n" if fields else "\n") + '  "submissions": [')
    count = 0
    for submission in submissions:
        stream.write(("\n" if count == 0 else ",\n") + textwrap.indent(json.dumps(submission, indent=2), "    "))
        count += 1
    stream.write("\n  ]\n}\n" if count else "]\n}\n")
