"""The registry of report formats: what `--format` accepts, its help text, and the writers of a run.

A format is a module with `FORMATS` (grader.report.writer.Format); listing the module here is
all it takes for `grade --format` to offer it, its help to describe it and `--out` to write it.
"""

from __future__ import annotations

from collections.abc import Sequence

from grader.report import canvas, class_page, github, gradebook, gradescope, json_report, junit
from grader.report.writer import Format, Run, Writer

REGISTRY: dict[str, Format] = {format_.name: format_ for module in (
    json_report, gradebook, class_page, gradescope, junit, github, canvas) for format_ in module.FORMATS}
NAMES = tuple(REGISTRY)
DEFAULT = ("json", "csv", "html")


def help_text() -> str:
    """`--format`'s help: each format's name and its one line."""
    return "A report for --out, repeatable: " + "; ".join(f"{f.name}: {f.description}" for f in REGISTRY.values()) + "."


def open_writers(run: Run, names: Sequence[str]) -> list[Writer]:
    """A writer per chosen format, in the registry's order, each once."""
    unknown = set(names) - set(REGISTRY)
    if unknown:
        raise ValueError(f"unknown report format(s): {', '.join(sorted(unknown))}")
    return [format_.open(run) for name, format_ in REGISTRY.items() if name in names]
