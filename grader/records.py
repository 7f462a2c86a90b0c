"""A grade as a plain JSON record and back: what the results log, the cache and the merge store.

The record is the submission's JSON report entry (DESIGN.md §5) plus what the terminal view
needs besides (printed output, run time, public-case values of the first wrong step, the
hidden-case part of a failed step's message kept apart for Gradescope), so a grade read back
renders exactly as it did when it was made. It holds no hidden expected value.
"""

from __future__ import annotations

from pathlib import Path

from grader.models import Diagnosis, Grade, StepResult, Submission
from grader.report import json_report


def to_record(grade: Grade) -> dict:
    record = json_report.grade_document(grade)
    for document, step in zip(record["steps"], grade.steps):
        document["public_got"] = step.public_got
        document["public_expected"] = step.public_expected
        document["hidden_detail"] = step.hidden_detail
        document["public_message"] = step.public_message
    record["output"] = grade.output
    record["seconds"] = round(grade.seconds, 4)
    return record


def from_record(record: dict, submission: Submission | None = None) -> Grade:
    """The grade a record describes; `submission` replaces the one recorded (same key, so same file)."""
    if submission is None:
        submission = Submission(Path(record["submission"]), record["submission"], record["student"])
    steps = tuple(
        StepResult(step["name"], step["status"], step["score"], step["max_score"], step["cases_passed"],
                   step["cases_total"], step["message"], step.get("carried_forward", False),
                   step.get("public_got"), step.get("public_expected"), step.get("hidden_detail"),
                   step.get("public_message"))
        for step in record["steps"]
    )
    diagnoses = tuple(Diagnosis(d["step"], d["misconception"], d["message"]) for d in record.get("diagnoses", []))
    return Grade(submission, record["status"], record["score"], record["max_score"], steps, diagnoses,
                 tuple(record.get("messages", [])), record.get("first_wrong_step"), record.get("output", ""),
                 record.get("seconds", 0.0))
