"""The use cases: grade a class, grade one notebook, check a notebook on its public case, make stubs, merge shards.

Each takes a frozen request and reports what happens as typed events passed to `emit` (a grade
finished, a warning, reports written...), raising a GraderError subclass for what stops it; the
command line only turns options into requests, events into lines and errors into exit codes.
"""

from grader.app.classroom import GradeClass, Interrupted, Terminated, grade_class
from grader.app.environment import sandbox_layers, solutions_folder
from grader.app.events import (
    AllGraded,
    Annotations,
    Emit,
    Event,
    Graded,
    LayersMissing,
    NoJobSummary,
    PageProgress,
    PagesWritten,
    ReportsWritten,
    Started,
    Summarised,
    Tallied,
)
from grader.app.instructor import MakeStub, Merge, make_stub, merge
from grader.app.one_notebook import Check, GradeOne, OneGraded, check, grade_one

__all__ = [
    "AllGraded", "Annotations", "Check", "Emit", "Event", "GradeClass", "GradeOne", "Graded", "Interrupted",
    "LayersMissing", "MakeStub", "Merge", "NoJobSummary", "OneGraded", "PageProgress", "PagesWritten", "ReportsWritten",
    "Started", "Summarised", "Tallied", "Terminated", "check", "grade_class", "grade_one", "make_stub", "merge",
    "sandbox_layers", "solutions_folder",
]
