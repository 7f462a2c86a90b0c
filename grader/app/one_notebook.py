"""One notebook: graded against one assignment (Gradescope's run), or checked on its public case (the student)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from grader import assignment, batch, judge, routing, selfcheck
from grader.models import ERROR, INVALID, Grade, Submission
from grader.sandbox.layers import Layer


@dataclass(frozen=True)
class GradeOne:
    """One submission folder (Gradescope's) graded against one assignment."""

    solutions: Path
    assignment: str
    folder: Path
    """Where the notebook was submitted: the one named like the assignment's, else the only one, is graded."""
    seed: int | None = None


@dataclass(frozen=True)
class OneGraded:
    grade: Grade
    layers: tuple[Layer, ...] | None
    """The sandbox layers in effect (None when no child ran)."""


def grade_one(request: GradeOne) -> OneGraded:
    """Grade the submitted notebook; a notebook for another assignment, or none to choose, gets an error grade."""
    name = request.assignment
    loaded = assignment.load(request.solutions, name)
    found = batch.find_submissions([request.folder]) if request.folder.is_dir() else []
    wanted = [submission for submission in found if submission.path.name == loaded.layout.notebook]
    chosen = wanted if len(wanted) == 1 else found if len(found) == 1 else []
    if not chosen:
        names = ", ".join(s.path.relative_to(request.folder).as_posix() for s in found) or "none"
        message = f"Submit one notebook named {loaded.layout.notebook} (notebooks found: {names})."
        submission = Submission(request.folder, request.folder.name, request.folder.name)
        return OneGraded(judge.unjudged(submission, loaded.rubric, INVALID, [message]), None)
    submission = Submission(chosen[0].path, chosen[0].path.name, chosen[0].path.stem)
    # Only this assignment's solutions may be at hand: metadata naming another is what tells a wrong notebook.
    identity = routing.identify(submission.path, routing.signatures(request.solutions, [name]))
    if identity.assignment not in (None, name):
        message = (f"this notebook is for assignment {identity.assignment}, not {name}: "
                   f"submit your {name} notebook here")
        return OneGraded(judge.unjudged(submission, loaded.rubric, ERROR, [message]), None)
    with batch.Grader(loaded, loaded.defaults.seed if request.seed is None else request.seed, jobs=1) as one_at_a_time:
        grade = one_at_a_time.grade(submission)
        return OneGraded(grade, one_at_a_time.layers(start=False))


@dataclass(frozen=True)
class Check:
    """`grade-check`: students' notebooks on their public case."""

    notebooks: tuple[Path, ...]
    public_case: Path | None
    """The public case file; None: the copy inside the notebook."""
    timeout: float


def check(request: Check) -> list[selfcheck.Checked]:
    return selfcheck.check_files(request.notebooks, request.public_case, request.timeout)

