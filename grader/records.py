"""A grade as a plain JSON record and back: what the results log, the cache and the merge store.

The record is the submission's JSON report entry (README, "The JSON report") plus what the terminal view
needs besides (printed output, run time, public-case values of the first wrong step, the
hidden-case part of a failed step's message kept apart for Gradescope), so a grade read back
renders exactly as it did when it was made. It holds no hidden expected value.
"""

from __future__ import annotations

from pathlib import Path

from grader.models import Adjustment, Diagnosis, Grade, StepResult, Submission
from grader.report import json_report
from grader.text import printable


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
    """The grade a record describes; `submission` replaces the one recorded (same key, so same file).

    Its text is made printable again: a record is read back from a file, which may hold anything.
    Raises KeyError, TypeError or ValueError for a record that is not a grade's.
    """
    if submission is None:
        submission = Submission(Path(_text(record["submission"])), record["submission"], _text(record["student"]))
    steps = tuple(_step(step) for step in record["steps"])
    diagnoses = tuple(Diagnosis(_text(d["step"]), _text(d["misconception"]), _text(d["message"]))
                      for d in record.get("diagnoses", []))
    return Grade(submission, _text(record["status"]), _number(record["score"]), _number(record["max_score"]), steps,
                 diagnoses, tuple(_text(message) for message in record.get("messages", [])),
                 _text_or_none(record.get("first_wrong_step")), _text(record.get("output", "")),
                 _number(record.get("seconds", 0.0)), _adjustment(record.get("adjustment")))


_STEP_FIELDS = ("name", "status", "score", "max_score", "cases_passed", "cases_total", "message", "carried_forward",
                "public_got", "public_expected", "hidden_detail", "public_message")
# A class's steps repeat ("correct on all 41 cases"): 2,400 steps of 400 grades were 51 different ones. Each one
# read is kept (StepResult is immutable), so a grade read back builds only the steps not seen yet; at most about
# a megabyte, whatever the size of the class.
_steps_read: dict[tuple, StepResult] = {}
_MAX_STEPS_KEPT = 1024


def _step(step: dict) -> StepResult:
    values = tuple(step.get(field) for field in _STEP_FIELDS)
    # The types are part of the key: 1 and 1.0 are equal, but a report writes them differently.
    key = values + tuple(map(type, values))
    try:
        return _steps_read[key]
    except KeyError:
        pass
    except TypeError:  # a value that cannot be a key (a list, a dict): read as it is, not kept
        return _new_step(step)
    result = _new_step(step)
    if len(_steps_read) >= _MAX_STEPS_KEPT:
        _steps_read.clear()
    _steps_read[key] = result
    return result


def _new_step(step: dict) -> StepResult:
    return StepResult(_text(step["name"]), _text(step["status"]), _number(step["score"]), _number(step["max_score"]),
                      int(step["cases_passed"]), int(step["cases_total"]), _text(step["message"]),
                      bool(step.get("carried_forward", False)), _text_or_none(step.get("public_got")),
                      _text_or_none(step.get("public_expected")), _text_or_none(step.get("hidden_detail")),
                      _text_or_none(step.get("public_message")))


def _adjustment(document) -> Adjustment | None:
    """An instructor's override as a results.json shows it (a shard's, for grade-merge); the log holds none."""
    if document is None:
        return None
    changes = document["changes"]
    return Adjustment(_number(document["original_score"]), tuple(_text(each["change"]) for each in changes),
                      tuple(_text(each["reason"]) for each in changes))


def grade_or_none(record: dict | None, submission: Submission) -> Grade | None:
    """The grade of a record read back from a log, or None when it is missing or not a grade's (grade again)."""
    if record is None:
        return None
    try:
        return from_record(record, submission)
    except (KeyError, TypeError, ValueError, AttributeError):
        return None


def _text(value) -> str:
    if not isinstance(value, str):
        raise TypeError("expected text")
    return printable(value)


def _text_or_none(value) -> str | None:
    return None if value is None else _text(value)


def _number(value) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError("expected a number")
    return value
