"""The report files of a batch in the output folder, written from grades streamed one at a time.

Every format is rendered from the same grades in one pass over them. The formats written
piece by piece (JSON, CSV, the HTML class report, the per-student Gradescope files) keep memory
flat however large the class; JUnit and the GitHub summary and annotations need the whole
batch and hold it only when asked for.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from grader.errors import InternalError
from grader.models import Grade
from grader.report import files, github, gradebook, gradescope, html_report, json_report, junit
from grader.report.summary import ClassSummary
from grader.shard import Shard
from grader.text import printable

FORMATS = ("json", "csv", "html", "gradescope", "junit", "github-summary", "github-annotations")
DEFAULT_FORMATS = ("json", "csv", "html")
GRADESCOPE_FOLDER = "gradescope"
_UNSAFE_IN_FILE_NAME = re.compile(r"[^A-Za-z0-9._-]+")


@dataclass(frozen=True)
class ClassInfo:
    """What every report says about the batch besides its grades."""

    assignment: str
    title: str
    step_names: tuple[str, ...]
    max_score: float
    fail_under: float | None = None
    """The --fail-under threshold, which the GitHub summary and annotations report against."""


def json_fields(info: ClassInfo, shard: Shard | None) -> dict:
    """The report's fields; a shard's report also says which shard it is, for `grade-merge`."""
    fields = json_report.head(info.assignment, info.max_score)
    if shard is not None:
        fields["shard"] = {"index": shard.index, "count": shard.count, "title": info.title}
    return fields


def document(position: int, grade: Grade, shard: Shard | None) -> dict:
    """A submission's entry in the JSON report; in a shard, with its position in the whole class."""
    entry = json_report.grade_document(grade)
    if shard is not None:
        entry["position"] = position
    return entry


def documents(entries: Iterable[tuple[int, Grade]], shard: Shard | None) -> Iterable[dict]:
    return (document(position, grade, shard) for position, grade in entries)


class UniqueNames:
    """`<student>.json`-style file names, made safe and unique (two notebooks of one student)."""

    def __init__(self, suffix: str) -> None:
        self._suffix = suffix
        self._used: set[str] = set()

    def next(self, student: str) -> str:
        stem = _UNSAFE_IN_FILE_NAME.sub("_", student).strip("._") or "submission"
        name, count = f"{stem}{self._suffix}", 1
        while name.lower() in self._used:
            count += 1
            name = f"{stem}-{count}{self._suffix}"
        self._used.add(name.lower())
        return name


class ReportsFailed(InternalError):
    """Some report files could not be written; every other one was."""


class _Piecewise:
    """One report file written grade by grade; a failure drops this file alone, never the others."""

    def __init__(self, path: Path, make: Callable[[IO], Any]) -> None:
        self.error: Exception | None = None
        self._context = files.atomic_stream(path)
        try:
            stream = self._context.__enter__()
        except Exception as error:
            self.error = error
            return
        try:
            self._writer = make(stream)
        except Exception as error:
            self._abandon(error)

    def call(self, method: str, *arguments) -> None:
        """The writer's `method`, if it has one (a CSV writer has nothing to finish)."""
        if self.error is None and hasattr(self._writer, method):
            try:
                getattr(self._writer, method)(*arguments)
            except Exception as error:
                self._abandon(error)

    def close(self, failure: BaseException | None = None) -> None:
        """Put the file in place, or with `failure` (Ctrl-C...) remove what was written of it."""
        if self.error is not None:
            return
        if failure is not None:
            self._context.__exit__(type(failure), failure, failure.__traceback__)
            return
        try:
            self._context.__exit__(None, None, None)
        except Exception as error:
            self.error = error

    def _abandon(self, error: Exception) -> None:
        self.error = error
        try:
            self._context.__exit__(type(error), error, error.__traceback__)
        except Exception:  # the context re-raises the error it was given: it is kept in self.error
            pass


def write_all(out: Path, info: ClassInfo, summary: ClassSummary, entries: Iterable[tuple[int, Grade]],
              formats: Sequence[str] = DEFAULT_FORMATS, shard: Shard | None = None) -> list[str]:
    """Write each chosen format into `out`, each file atomically, in one pass over `entries`; the names written.

    A file that fails (a full disk, a writer's bug on one row) costs that file alone: every other
    one is still written, then ReportsFailed says which failed and why.
    """
    chosen = list(dict.fromkeys(formats))
    unknown = set(chosen) - set(FORMATS)
    if unknown:
        raise ValueError(f"unknown report format(s): {', '.join(sorted(unknown))}")
    written: list[str] = []
    failed: dict[str, Exception] = {}
    whole_batch: list[Grade] | None = [] if {"junit", "github-summary", "github-annotations"} & set(chosen) else None
    makers = {
        "json": ("results.json", lambda stream: json_report.JsonWriter(stream, json_fields(info, shard))),
        "csv": ("gradebook.csv", lambda stream: gradebook.CsvWriter(stream, info.step_names)),
        "html": ("report.html", lambda stream: html_report.HtmlWriter(stream, info.title, info.assignment,
                                                                      info.step_names, summary)),
    }
    piecewise = {name: _Piecewise(out / name, make) for key, (name, make) in makers.items() if key in chosen}
    gradescope_names = UniqueNames(".json") if "gradescope" in chosen else None
    try:
        for position, grade in entries:
            for name, report in piecewise.items():
                report.call("add", document(position, grade, shard) if name == "results.json" else grade)
            if gradescope_names:
                name = f"{GRADESCOPE_FOLDER}/{gradescope_names.next(grade.submission.student)}"
                _attempt(name, lambda path=out / name, grade=grade: files.write_atomically(path, gradescope.render(grade)),
                         written, failed)
            if whole_batch is not None:
                whole_batch.append(grade)
        for report in piecewise.values():
            report.call("finish")
    except BaseException as failure:
        for report in piecewise.values():
            report.close(failure)
        raise
    for name, report in piecewise.items():
        report.close()
        if report.error is None:
            written.append(name)
        else:
            failed[name] = report.error
    if "junit" in chosen:
        _attempt("junit.xml", lambda: files.write_atomically(out / "junit.xml", junit.render(info.assignment, whole_batch)),
                 written, failed)
    if "github-summary" in chosen:
        _attempt("summary.md", lambda: files.write_atomically(
            out / "summary.md", github.summary(info.title, info.step_names, whole_batch, info.fail_under)), written, failed)
    if "github-annotations" in chosen:
        _attempt("annotations.txt", lambda: files.write_atomically(
            out / "annotations.txt", github.annotations(whole_batch, info.fail_under) + "\n"), written, failed)
    if failed:
        reasons = "; ".join(f"{name} ({type(error).__name__}: {error})" for name, error in failed.items())
        done = ", ".join(written) or "none"
        raise ReportsFailed(printable(f"could not write {reasons} in {out}/; written: {done}").replace("\n", " "))
    return written


def _attempt(name: str, write: Callable[[], None], written: list[str], failed: dict[str, Exception]) -> None:
    try:
        write()
    except Exception as error:
        failed[name] = error
        return
    written.append(name)
