"""The instructor's use cases: stubs regenerated from the references, shard reports merged."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from grader import assignment
from grader import merge as merging
from grader.app.environment import solutions_folder
from grader.assignment import stub, validate
from grader.report import class_reports, files


@dataclass(frozen=True)
class MakeStub:
    """`grade-stub`: the student-facing files regenerated from each reference."""

    names: tuple[str, ...]
    """Assignments; empty: every one in the solutions folder."""
    solutions: Path | None
    assignments: Path
    check_only: bool


def make_stub(request: MakeStub) -> list[Path]:
    """The files that differ from a fresh generation, written unless `check_only`."""
    solutions_dir = solutions_folder(request.solutions)
    chosen = list(request.names) or assignment.available(solutions_dir)
    # Every folder is checked before anything is written: a broken one leaves every file as it was.
    checked = [validate.folder(solutions_dir, name) for name in chosen]
    stale = []
    for loaded, built in checked:
        for path, text in stub.outputs(loaded, built, request.assignments).items():
            current = path.read_text(encoding="utf-8") if path.is_file() else None
            if current == text:
                continue
            stale.append(path)
            if not request.check_only:
                files.write_atomically(path, text, shared=True)
    return stale


@dataclass(frozen=True)
class Merge:
    """`grade-merge`: the reports of every shard of a split, combined."""

    shards: tuple[Path, ...]
    out: Path


def merge(request: Merge) -> tuple[list[str], int]:
    """The reports written and the number of submissions merged."""
    info, grades = merging.load(list(request.shards))
    return class_reports.write_all(request.out, info, merging.summarise(info, grades), grades), len(grades)
