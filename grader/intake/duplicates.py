"""One notebook per student and assignment: which one is graded when a student handed in several, said aloud.

The rule (README, "Duplicates"): a notebook named as the assignment's (`backward_pass.ipynb`, or a
Canvas resubmission of it, `backward_pass-2.ipynb`) before any other name (copies such as
`backward_pass-Copy1.ipynb`, `backward_pass (1).ipynb`); then the latest resubmission (the highest
`-N`); then the first in path order. The graded one's grade warns, naming the others; each other
one is a row of its own that says it was not graded and which one was.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
from collections.abc import Collection, Sequence
from pathlib import Path

from grader.models import Grade, Submission

RULE = ("the notebook named as the assignment's (or a resubmission of it) first, "
        "then the latest resubmission, then the first in path order")


def one_per_student(submissions: Sequence[Submission], notebook_name: str,
                    exempt: Collection[str]) -> tuple[tuple[Submission, ...], dict[str, str]]:
    """The submissions, the graded one of each student noting the others; submission (as given) -> why it is ignored.

    `exempt` (as given) do not compete: notebooks refused already (for another assignment), and
    files the user named one by one (their choice, as everywhere). Unreadable zip entries neither.
    """
    by_student: dict[str, list[int]] = {}
    for index, submission in enumerate(submissions):
        if submission.given not in exempt and submission.problem is None:
            by_student.setdefault(submission.student, []).append(index)
    chosen, ignored = list(submissions), {}
    for student, indices in by_student.items():
        if len(indices) < 2:
            continue
        kept = min(indices, key=lambda index: (*_rank(submissions[index].path, notebook_name), index))
        others = [submissions[index].given for index in indices if index != kept]
        warning = (f"Warning: student {student} handed in {len(indices)} notebooks; this one is graded, not "
                   f"{', '.join(others)} (one per student: {RULE}).")
        chosen[kept] = dataclasses.replace(submissions[kept], notes=(*submissions[kept].notes, warning))
        for given in others:
            ignored[given] = (f"not graded: student {student} handed in several notebooks and "
                              f"{submissions[kept].given} is graded instead (README, \"Duplicates\")")
    return tuple(chosen), ignored


def _rank(path: Path, notebook_name: str) -> tuple[int, int]:
    """Lower is preferred: (0 for the assignment's own file name, else 1), then the newer resubmission first."""
    own = Path(notebook_name).stem.lower()
    name = path.name.lower()
    if name == f"{own}.ipynb":
        return 0, 0
    resubmission = re.fullmatch(rf"{re.escape(own)}-(\d{{1,9}})\.ipynb", name)
    if resubmission:
        return 0, -int(resubmission[1])
    return 1, 0


def digest(raw: bytes, submission: Submission) -> str:
    """The digest a grade is kept under: of the bytes, and of the notes its grade carries, so that a grade
    cached with a warning about other notebooks is not reused once they are gone (or the other way round)."""
    return keyed(hashlib.sha256(raw).digest(), submission)


def keyed(raw_digest: bytes, submission: Submission) -> str:
    """`digest`, from the SHA-256 of the bytes (taken when they were read to route the notebook)."""
    if not submission.notes:
        return raw_digest.hex()
    return hashlib.sha256(raw_digest + json.dumps(submission.notes).encode()).hexdigest()


def noted(grade: Grade) -> Grade:
    """The grade with its submission's notes among its messages."""
    notes = grade.submission.notes
    return dataclasses.replace(grade, messages=(*grade.messages, *notes)) if notes else grade
