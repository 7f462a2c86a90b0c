"""The JSON report of DESIGN.md §5 (plus the documented additions `first_wrong_step` and `carried_forward`)."""

from __future__ import annotations

import json
from collections.abc import Iterable

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


def document(assignment: str, max_score: float, grades: Iterable[Grade]) -> dict:
    return {
        "grader_version": __version__,
        "assignment": assignment,
        "max_score": max_score,
        "submissions": [grade_document(grade) for grade in grades],
    }


def render(assignment: str, max_score: float, grades: Iterable[Grade]) -> str:
    return json.dumps(document(assignment, max_score, grades), indent=2) + "\n"
