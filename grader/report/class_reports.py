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
from typing import IO, Any, TextIO

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
    feedback: str | None = None
    """The folder of the students' feedback pages relative to the output folder, when this run writes them."""


@dataclass(frozen=True)
class Section:
    """The grades of one assignment in a run: what its class report is made of."""

    info: ClassInfo
    summary: ClassSummary
    entries: Iterable[tuple[int, Grade]]
    """(position in the whole class, grade), read once."""


def json_fields(info: ClassInfo, shard: Shard | None) -> dict:
    """The report's fields; a shard's report also says which shard it is, for `grade-merge`."""
    fields = json_report.head(info.assignment, info.max_score)
    if shard is not None:
        fields["shard"] = {"index": shard.index, "count": shard.count, "title": info.title}
    return fields


def mixed_fields(infos: Sequence[ClassInfo]) -> dict:
    """The fields of a run over several assignments: no single `assignment` or `max_score`, each one listed."""
    fields = json_report.head(None, None)
    fields["assignments"] = [{"name": info.assignment, "title": info.title, "max_score": info.max_score} for info in infos]
    return fields


def document(position: int, grade: Grade, shard: Shard | None, assignment: str | None = None) -> dict:
    """A submission's entry in the JSON report; in a shard, with its position in the whole class; in a run over
    several assignments, with the one it was graded against."""
    entry = json_report.grade_document(grade)
    if assignment is not None:
        entry["assignment"] = assignment
    if shard is not None:
        entry["position"] = position
    return entry


def documents(entries: Iterable[tuple[int, Grade]], shard: Shard | None) -> Iterable[dict]:
    return (document(position, grade, shard) for position, grade in entries)


def write_json(stream: TextIO, sections: Sequence[Section], shard: Shard | None) -> None:
    """The JSON report of a run, one section (assignment) after the other."""
    if len(sections) == 1:
        json_report.write(stream, json_fields(sections[0].info, shard), documents(sections[0].entries, shard))
        return
    json_report.write(stream, mixed_fields([section.info for section in sections]),
                      (document(position, grade, shard, section.info.assignment)
                       for section in sections for position, grade in section.entries))


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
    """Write each chosen format into `out` for a run over one assignment; the names written."""
    return write_sections(out, [Section(info, summary, entries)], formats, shard)


def write_sections(out: Path, sections: Sequence[Section], formats: Sequence[str] = DEFAULT_FORMATS,
                   shard: Shard | None = None) -> list[str]:
    """Write each chosen format into `out`, each file atomically, in one pass over the grades; the names written.

    One section (assignment): the files as always. Several: one results.json and gradebook.csv
    for the whole run (each submission naming its assignment), and per assignment its class
    report report-<assignment>.html and its junit-<assignment>.xml. A file that fails (a full
    disk, a writer's bug on one row) costs that file alone: every other one is still written,
    then ReportsFailed says which failed and why.
    """
    chosen = list(dict.fromkeys(formats))
    unknown = set(chosen) - set(FORMATS)
    if unknown:
        raise ValueError(f"unknown report format(s): {', '.join(sorted(unknown))}")
    mixed = len(sections) > 1
    written: list[str] = []
    failed: dict[str, Exception] = {}
    whole_batch: list[list[Grade]] | None = [] if {"junit", "github-summary", "github-annotations"} & set(chosen) else None
    shared: dict[str, _Piecewise] = {}
    if "json" in chosen:
        fields = mixed_fields([s.info for s in sections]) if mixed else json_fields(sections[0].info, shard)
        shared["results.json"] = _Piecewise(out / "results.json", lambda stream: json_report.JsonWriter(stream, fields))
    if "csv" in chosen:
        steps = list(dict.fromkeys(name for section in sections for name in section.info.step_names))
        shared["gradebook.csv"] = _Piecewise(out / "gradebook.csv", lambda stream: gradebook.CsvWriter(stream, steps))
    gradescope_names = UniqueNames(".json") if "gradescope" in chosen else None
    open_reports = dict(shared)
    try:
        for section in sections:
            info = section.info
            as_html = None
            if "html" in chosen:
                name = f"report-{_file_safe(info.assignment)}.html" if mixed else "report.html"
                as_html = _Piecewise(out / name, lambda stream, info=info, section=section: html_report.HtmlWriter(
                    stream, info.title, info.assignment, info.step_names, section.summary, info.feedback))
                open_reports[name] = as_html
            grades: list[Grade] | None = [] if whole_batch is not None else None
            for position, grade in section.entries:
                if "results.json" in shared:
                    shared["results.json"].call("add", document(position, grade, shard, info.assignment if mixed else None))
                if "gradebook.csv" in shared:
                    shared["gradebook.csv"].call("add", grade, info.assignment)
                if as_html:
                    as_html.call("add", grade)
                if gradescope_names:
                    name = f"{GRADESCOPE_FOLDER}/{gradescope_names.next(grade.submission.student)}"
                    _attempt(name, lambda path=out / name, grade=grade: files.write_atomically(path, gradescope.render(grade)),
                             written, failed)
                if grades is not None:
                    grades.append(grade)
            if as_html:
                as_html.call("finish")
            if whole_batch is not None:
                whole_batch.append(grades)
        for report in shared.values():
            report.call("finish")
    except BaseException as failure:
        for report in open_reports.values():
            report.close(failure)
        raise
    for name, report in open_reports.items():
        report.close()
        if report.error is None:
            written.append(name)
        else:
            failed[name] = report.error
    if whole_batch is not None:
        _write_whole_batch(out, sections, whole_batch, chosen, written, failed)
    if failed:
        reasons = "; ".join(f"{name} ({type(error).__name__}: {error})" for name, error in failed.items())
        done = ", ".join(written) or "none"
        raise ReportsFailed(printable(f"could not write {reasons} in {out}/; written: {done}").replace("\n", " "))
    return written


def _write_whole_batch(out: Path, sections: Sequence[Section], batches: list[list[Grade]], chosen: Sequence[str],
                       written: list[str], failed: dict[str, Exception]) -> None:
    """The formats that need every grade at once: JUnit per assignment, one GitHub summary and annotations."""
    if "junit" in chosen:
        for section, grades in zip(sections, batches):
            name = f"junit-{_file_safe(section.info.assignment)}.xml" if len(sections) > 1 else "junit.xml"
            _attempt(name, lambda name=name, section=section, grades=grades: files.write_atomically(
                out / name, junit.render(section.info.assignment, grades)), written, failed)
    fail_under = sections[0].info.fail_under
    if "github-summary" in chosen:
        _attempt("summary.md", lambda: files.write_atomically(out / "summary.md", "\n".join(
            github.summary(section.info.title, section.info.step_names, grades, fail_under)
            for section, grades in zip(sections, batches))), written, failed)
    if "github-annotations" in chosen:
        every = [grade for grades in batches for grade in grades]
        _attempt("annotations.txt", lambda: files.write_atomically(
            out / "annotations.txt", github.annotations(every, fail_under) + "\n"), written, failed)


def _file_safe(name: str) -> str:
    return _UNSAFE_IN_FILE_NAME.sub("_", name).strip("._") or "assignment"


def _attempt(name: str, write: Callable[[], None], written: list[str], failed: dict[str, Exception]) -> None:
    try:
        write()
    except Exception as error:
        failed[name] = error
        return
    written.append(name)
