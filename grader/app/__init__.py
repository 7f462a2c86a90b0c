"""The use cases: grade a class, grade one notebook, check a notebook on its public case, make stubs, merge shards.

Each takes a frozen request and reports what happens as typed events passed to `emit` (a grade
finished, a warning, reports written...), raising a GraderError subclass for what stops it; the
command line only turns options into requests, events into lines and errors into exit codes.

Each name is imported from its module when first used: a command loads only its own use case
(`grade` never loads the stub generator or the self-check, `grade-check` never the class run).
"""

from __future__ import annotations

import importlib

_HOMES = {
    "classroom": ("GradeClass", "Interrupted", "Terminated", "grade_class"),
    "environment": ("sandbox_layers", "solutions_folder"),
    "events": ("AllGraded", "Annotations", "Emit", "Event", "Graded", "LayersMissing", "NoJobSummary", "OverridesRead",
               "PageProgress", "PagesWritten", "ReportsWritten", "Started", "Summarised", "Tallied"),
    "instructor": ("MakeStub", "Merge", "make_stub", "merge"),
    "one_notebook": ("Check", "GradeOne", "OneGraded", "check", "grade_one"),
}
_MODULE_OF = {name: module for module, names in _HOMES.items() for name in names}
__all__ = sorted(_MODULE_OF)


def __getattr__(name: str):
    module = _MODULE_OF.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value
