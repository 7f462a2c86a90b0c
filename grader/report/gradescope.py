"""Gradescope's autograder `results.json`, one document per submission.

Follows the Gradescope autograder specification: a top-level `score`, `execution_time` and
`output`, and `tests[]` with `name`, `score`, `max_score`, `status`, `output`, `visibility`.
Each step is a visible test carrying its points; what the hidden cases showed for a wrong
step (how many, how, their input labels) is a separate zero-point test whose visibility
holds it back (`after_due_date` by default). No hidden expected value exists in a Grade.

Every output is plain text (`output_format: "text"`, for the whole document and each test):
Gradescope's default renders output as HTML, so student code such as `<i>2</i>` in a message
would show as markup instead of as the code the student wrote.
"""

from __future__ import annotations

import json

from grader import __version__
from grader.models import GRADED, PASS, Grade
from grader.report import files
from grader.report.writer import Format, Run, Writer, file_safe

FOLDER = "gradescope"
OUTPUT_FORMAT = "text"

HIDDEN_VISIBILITIES = ("after_due_date", "hidden")
"""Visibilities Gradescope offers that keep a test from students until the due date, or for good."""


def document(grade: Grade, hidden_visibility: str = "after_due_date") -> dict:
    if hidden_visibility not in HIDDEN_VISIBILITIES:
        raise ValueError(f"hidden-case details need a visibility among {HIDDEN_VISIBILITIES}, not {hidden_visibility!r}")
    tests = []
    for number, step in enumerate(grade.steps, start=1):
        shown = step.public_message if step.hidden_detail is not None else step.message
        output = shown or ""
        if step.name == grade.first_wrong_step and step.public_got is not None:
            output += f"\n\ngot (public case):\n{step.public_got}\n\nexpected (public case):\n{step.public_expected}"
        tests.append({
            "name": step.name,
            "number": str(number),
            "score": step.score,
            "max_score": step.max_score,
            "status": "passed" if step.status == PASS else "failed",
            "output": output,
            "output_format": OUTPUT_FORMAT,
            "visibility": "visible",
        })
        if step.hidden_detail is not None:
            tests.append({
                "name": f"{step.name}: hidden cases",
                "number": f"{number}.1",
                "score": 0.0,
                "max_score": 0.0,
                "status": "failed",
                "output": step.hidden_detail,
                "output_format": OUTPUT_FORMAT,
                "visibility": hidden_visibility,
            })
    return {
        "score": grade.score,
        "execution_time": round(grade.seconds, 3),
        "output": _overview(grade),
        "output_format": OUTPUT_FORMAT,
        "test_output_format": OUTPUT_FORMAT,
        "stdout_visibility": "hidden",
        "tests": tests,
        "extra_data": {"status": grade.status, "grader_version": __version__, "first_wrong_step": grade.first_wrong_step,
                       "original_score": None if grade.adjustment is None else grade.adjustment.original},
    }


def _overview(grade: Grade) -> str:
    """What the whole submission came to; step messages, which may hold hidden-case details, stay in their tests."""
    lines = [f"Score: {grade.score:g}/{grade.max_score:g}" + ("" if grade.status == GRADED else f" ({grade.status})")]
    if grade.adjustment is not None:
        lines.append(f"Score {grade.adjustment.note}")
    lines += list(grade.messages)
    lines += [f"Diagnosis ({d.step}): {d.misconception}: {d.message}" for d in grade.diagnoses]
    return "\n".join(lines)


def render(grade: Grade, hidden_visibility: str = "after_due_date") -> str:
    return json.dumps(document(grade, hidden_visibility), indent=2) + "\n"


class UniqueNames:
    """`<student>.json`-style file names, made safe and unique (two notebooks of one student)."""

    def __init__(self, suffix: str) -> None:
        self._suffix = suffix
        self._used: set[str] = set()

    def next(self, student: str) -> str:
        stem = file_safe(student, "submission")
        name, count = f"{stem}{self._suffix}", 1
        while name.lower() in self._used:
            count += 1
            name = f"{stem}-{count}{self._suffix}"
        self._used.add(name.lower())
        return name


class _FolderWriter(Writer):
    """gradescope/<student>.json, one results.json document per submission, written as it is graded."""

    def __init__(self, run: Run) -> None:
        self._run = run
        self._names = UniqueNames(".json")

    def add(self, position: int, grade: Grade) -> None:
        name = f"{FOLDER}/{self._names.next(grade.submission.student)}"
        self._run.ledger.attempt(name, lambda: files.write_atomically(self._run.out / name, render(grade)))


FORMATS = (Format("gradescope", f"{FOLDER}/<student>.json, each submission's Gradescope results.json", _FolderWriter),)
