"""The data that flows through the grader: rubric, cases, step results, grades."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # only named in annotations: what only reads reports never loads numpy
    import numpy as np

from grader.text import path_name, printable

# Submission statuses (the JSON report's `status`, README).
GRADED, ERROR, TIMEOUT, INVALID = "graded", "error", "timeout", "invalid"
# Step statuses.
PASS, FAIL, MISSING, NOT_RUN = "pass", "fail", "missing", "not_run"
# Step captures.
FINAL, ITERATION = "final", "iteration"


@dataclass(frozen=True)
class Step:
    """One graded step of the function, in the rubric's order."""

    name: str
    """Stable identifier, also the variable name expected in the student's function."""
    points: float
    """Points for a step that passes on every case."""
    hint: str
    """A nudge for a student whose step is wrong; never the answer."""
    capture: str = "final"
    """FINAL: its value when the function returns or raises; ITERATION: its value at the end of every iteration of
    the loop that assigns it, in execution order (compared as one array whose first axis is the iteration)."""
    carried: str | None = None
    """An explicit carried-forward formula, where none can be read from the reference's code."""

    @property
    def per_iteration(self) -> bool:
        return self.capture == ITERATION


@dataclass(frozen=True)
class Tolerance:
    """Element-wise closeness: |got - expected| <= atol + rtol * |expected|."""

    rtol: float
    atol: float


@dataclass(frozen=True)
class Words:
    """Names for the elements of a vector and the rows and columns of a matrix ([words] table); None: neutral wording."""

    unit: str | None = None
    row: str | None = None
    column: str | None = None


@dataclass(frozen=True)
class Limits:
    """Resource limits of one submission's run."""

    timeout: float
    """Wall-clock seconds for the whole submission."""
    statement: float
    """Seconds one top-level statement may take before it is cut (with a warning)."""
    call: float
    """Seconds one call of the graded function may take."""
    memory_mb: int = 1024
    """Address-space cap of the child process."""
    output_bytes: int = 1024 * 1024
    """Cap on what the child may write to any file, its captured stdout/stderr included."""

    def as_wire(self) -> dict:
        return {"timeout": self.timeout, "statement": self.statement, "call": self.call,
                "memory_mb": self.memory_mb, "output_bytes": self.output_bytes}


@dataclass(frozen=True)
class Case:
    """One set of arguments for the graded function, with the reference's value of every step."""

    name: str
    """"public", or "hidden-N"."""
    label: str
    """What the inputs look like (shapes, saturation); safe to show to students."""
    public: bool
    """Whether the inputs and expected values may be shown."""
    arguments: dict[str, Any]
    """The graded function's arguments by parameter name (floats, numpy scalars and arrays)."""
    expected: dict[str, np.ndarray]
    """The reference's float64 value of every step."""
    inputs: dict[str, Any] = field(default_factory=dict)
    """The inputs the case module drew (for the oracle); stays in the grader, never sent to the sandbox."""
    positions: dict[str, tuple[tuple[int, ...], ...]] = field(default_factory=dict)
    """Per step captured per iteration: each iteration's number in every enclosing loop, outermost first."""
    run: ReferenceRun | None = None
    """The reference's locals on this case, for formulas; stays in the grader, never sent to the sandbox."""


@dataclass(frozen=True)
class ReferenceRun:
    """The reference's own locals on one case: what step formulas see besides the student's values."""

    final: dict[str, Any]
    """Its locals when it returned."""
    iterations: dict[str, tuple[dict[str, Any], ...]]
    """Per step captured per iteration: its locals at the end of each iteration of that step's loop."""
    before: dict[str, tuple[Any, ...]]
    """Per step captured per iteration: the step's own value when each iteration began (None if unbound)."""


@dataclass(frozen=True, slots=True)
class Submission:
    """A notebook to grade."""

    location: str | Path
    """Where the notebook is, as the operating system names it (any bytes), kept as text (`path` makes the Path):
    a class holds one of these per student, and a Path held for good costs several times its text."""
    given: str
    """The path as the user gave it (or as found under a folder the user gave), as printable text."""
    student: str
    """Student id derived from the path, as printable text."""
    problem: str | None = None
    """Why it is not read, decided when it was found (a refused entry of a class zip: grader/intake/zips.py)."""
    notes: tuple[str, ...] = ()
    """Sentences added to its grade's messages (other notebooks of the student not graded: grader/intake/duplicates.py)."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "location", os.fspath(self.location))
        # Names come from file names (any bytes but / and NUL: newlines, escapes, bidi overrides,
        # undecodable Latin-1): they are made one printable line here, once, so no report, terminal
        # line or log record downstream can be forged or fail to encode.
        given = path_name(self.given)
        # A class named by its absolute path gives each notebook as it lies: one string kept, not two equal ones.
        object.__setattr__(self, "given", self.location if given == self.location else given)
        object.__setattr__(self, "student", path_name(self.student))

    @property
    def path(self) -> Path:
        """Where the notebook is: only for opening the file."""
        return Path(self.location)


@dataclass(frozen=True)
class StepResult:
    """The verdict on one step over all cases."""

    name: str
    status: str
    """One of pass, fail, missing, not_run."""
    score: float
    max_score: float
    cases_passed: int
    cases_total: int
    message: str
    """One sentence for the student."""
    carried_forward: bool = False
    """Passed only when judged from the student's own (wrong) earlier steps."""
    public_got: str | None = None
    """The student's value on the public case, formatted, for the first wrong step."""
    public_expected: str | None = None
    """The expected value on the public case, formatted, for the first wrong step."""
    hidden_detail: str | None = None
    """For a failed step, what the hidden cases showed: how many were wrong, how, and their input labels (never an
    expected value). It is part of `message` too; reports that hold hidden details back show `public_message`."""
    public_message: str | None = None
    """`message` without `hidden_detail`, set whenever `hidden_detail` is."""


@dataclass(frozen=True)
class Diagnosis:
    """A known mistake recognised in a step."""

    step: str
    misconception: str
    message: str


@dataclass(frozen=True)
class Adjustment:
    """An instructor's change to a graded score (grader/overrides.py), applied after grading, never stored with it."""

    original: float
    """The score the grading gave."""
    changes: tuple[str, ...]
    """Each applied row's change as written ("7", "+1", "-2", "-10%"), in the order applied."""
    reasons: tuple[str, ...]
    """Each applied row's reason, with who and when if the row says."""

    @property
    def text(self) -> str:
        """One line: every reason with its change, e.g. "regrade request (+1); late [TA Kim] (-10%)"."""
        return "; ".join(f"{reason} ({change})" for change, reason in zip(self.changes, self.reasons))

    @property
    def note(self) -> str:
        """What every report says of it: "adjusted from 10: late penalty (-20%)"."""
        return f"adjusted from {self.original:g}: {self.text}"


@dataclass(frozen=True)
class Grade:
    """The verdict on one submission."""

    submission: Submission
    status: str
    """One of graded, error, timeout, invalid."""
    score: float
    max_score: float
    steps: tuple[StepResult, ...]
    diagnoses: tuple[Diagnosis, ...] = ()
    messages: tuple[str, ...] = ()
    """Sentences for the student: what went wrong, warnings about the notebook, notes."""
    first_wrong_step: str | None = None
    output: str = ""
    """An excerpt of what the student's code printed."""
    seconds: float = 0.0
    """Wall-clock time of the sandboxed run."""
    adjustment: Adjustment | None = None
    """The instructor's override of `score` (which is then the adjusted score), or None."""

    def __post_init__(self) -> None:
        # Messages quote the student's run (exception text, names) and the output is what it
        # printed: whatever built them, a grade holds only printable, encodable text, so no
        # writer can fail on it and no escape sequence reaches a terminal.
        object.__setattr__(self, "messages", tuple(printable(message) for message in self.messages))
        object.__setattr__(self, "output", printable(self.output))

    @property
    def percent(self) -> float:
        return 100.0 * self.score / self.max_score if self.max_score else 0.0
