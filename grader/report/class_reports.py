"""The report files of a batch in the output folder, written from grades streamed one at a time.

Every format is rendered from the same grades in one pass over them. The formats written
piece by piece (JSON, CSV, the HTML class report, the per-student Gradescope files) keep memory
flat however large the class; JUnit and the GitHub summary and annotations need the whole
batch and hold it only when asked for.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from grader.models import Grade
from grader.report import files, github, gradebook, gradescope, html_report, json_report, junit
from grader.report.summary import ClassSummary
from grader.shard import Shard

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


def write_all(out: Path, info: ClassInfo, summary: ClassSummary, entries: Iterable[tuple[int, Grade]],
              formats: Sequence[str] = DEFAULT_FORMATS, shard: Shard | None = None) -> list[str]:
    """Write each chosen format into `out` for a run over one assignment; the names written."""
    return write_sections(out, [Section(info, summary, entries)], formats, shard)


def write_sections(out: Path, sections: Sequence[Section], formats: Sequence[str] = DEFAULT_FORMATS,
                   shard: Shard | None = None) -> list[str]:
    """Write each chosen format into `out`, each file atomically, in one pass over the grades; the names written.

    One section (assignment): the files as always. Several: one results.json and gradebook.csv
    for the whole run (each submission naming its assignment), and per assignment its class
    report report-<assignment>.html and its junit-<assignment>.xml.
    """
    chosen = list(dict.fromkeys(formats))
    unknown = set(chosen) - set(FORMATS)
    if unknown:
        raise ValueError(f"unknown report format(s): {', '.join(sorted(unknown))}")
    mixed = len(sections) > 1
    written: list[str] = []
    whole_batch: list[list[Grade]] | None = [] if {"junit", "github-summary", "github-annotations"} & set(chosen) else None
    with ExitStack() as stack:
        def stream(name: str):
            written.append(name)
            return stack.enter_context(files.atomic_stream(out / name))

        as_json = None
        if "json" in chosen:
            fields = mixed_fields([s.info for s in sections]) if mixed else json_fields(sections[0].info, shard)
            as_json = json_report.JsonWriter(stream("results.json"), fields)
        steps = list(dict.fromkeys(name for section in sections for name in section.info.step_names))
        as_csv = gradebook.CsvWriter(stream("gradebook.csv"), steps) if "csv" in chosen else None
        gradescope_names = UniqueNames(".json") if "gradescope" in chosen else None
        for section in sections:
            info = section.info
            as_html = None
            if "html" in chosen:
                name = f"report-{_file_safe(info.assignment)}.html" if mixed else "report.html"
                as_html = html_report.HtmlWriter(stream(name), info.title, info.assignment, info.step_names,
                                                 section.summary)
            grades: list[Grade] | None = [] if whole_batch is not None else None
            for position, grade in section.entries:
                if as_json:
                    as_json.add(document(position, grade, shard, info.assignment if mixed else None))
                if as_csv:
                    as_csv.add(grade, info.assignment)
                if as_html:
                    as_html.add(grade)
                if gradescope_names:
                    name = f"{GRADESCOPE_FOLDER}/{gradescope_names.next(grade.submission.student)}"
                    files.write_atomically(out / name, gradescope.render(grade))
                    written.append(name)
                if grades is not None:
                    grades.append(grade)
            if as_html:
                as_html.finish()
            if whole_batch is not None:
                whole_batch.append(grades)
        if as_json:
            as_json.finish()
    if whole_batch is not None:
        written += _write_whole_batch(out, sections, whole_batch, chosen)
    return written


def _write_whole_batch(out: Path, sections: Sequence[Section], batches: list[list[Grade]],
                       chosen: Sequence[str]) -> list[str]:
    """The formats that need every grade at once: JUnit per assignment, one GitHub summary and annotations."""
    written = []
    if "junit" in chosen:
        for section, grades in zip(sections, batches):
            name = f"junit-{_file_safe(section.info.assignment)}.xml" if len(sections) > 1 else "junit.xml"
            files.write_atomically(out / name, junit.render(section.info.assignment, grades))
            written.append(name)
    fail_under = sections[0].info.fail_under
    if "github-summary" in chosen:
        parts = [github.summary(section.info.title, section.info.step_names, grades, fail_under)
                 for section, grades in zip(sections, batches)]
        files.write_atomically(out / "summary.md", "\n".join(parts))
        written.append("summary.md")
    if "github-annotations" in chosen:
        every = [grade for grades in batches for grade in grades]
        files.write_atomically(out / "annotations.txt", github.annotations(every, fail_under) + "\n")
        written.append("annotations.txt")
    return written


def _file_safe(name: str) -> str:
    return _UNSAFE_IN_FILE_NAME.sub("_", name).strip("._") or "assignment"
