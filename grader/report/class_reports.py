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


def write_all(out: Path, info: ClassInfo, summary: ClassSummary, entries: Iterable[tuple[int, Grade]],
              formats: Sequence[str] = DEFAULT_FORMATS, shard: Shard | None = None) -> list[str]:
    """Write each chosen format into `out`, each file atomically, in one pass over `entries`; the names written."""
    chosen = list(dict.fromkeys(formats))
    unknown = set(chosen) - set(FORMATS)
    if unknown:
        raise ValueError(f"unknown report format(s): {', '.join(sorted(unknown))}")
    written: list[str] = []
    whole_batch: list[Grade] | None = [] if {"junit", "github-summary", "github-annotations"} & set(chosen) else None
    with ExitStack() as stack:
        def stream(name: str):
            written.append(name)
            return stack.enter_context(files.atomic_stream(out / name))

        as_json = json_report.JsonWriter(stream("results.json"), json_fields(info, shard)) if "json" in chosen else None
        as_csv = gradebook.CsvWriter(stream("gradebook.csv"), info.step_names) if "csv" in chosen else None
        as_html = (html_report.HtmlWriter(stream("report.html"), info.title, info.assignment, info.step_names, summary)
                   if "html" in chosen else None)
        gradescope_names = UniqueNames(".json") if "gradescope" in chosen else None
        for position, grade in entries:
            if as_json:
                as_json.add(document(position, grade, shard))
            if as_csv:
                as_csv.add(grade)
            if as_html:
                as_html.add(grade)
            if gradescope_names:
                name = f"{GRADESCOPE_FOLDER}/{gradescope_names.next(grade.submission.student)}"
                files.write_atomically(out / name, gradescope.render(grade))
                written.append(name)
            if whole_batch is not None:
                whole_batch.append(grade)
        if as_json:
            as_json.finish()
        if as_html:
            as_html.finish()
    if "junit" in chosen:
        files.write_atomically(out / "junit.xml", junit.render(info.assignment, whole_batch))
        written.append("junit.xml")
    if "github-summary" in chosen:
        files.write_atomically(out / "summary.md", github.summary(info.title, info.step_names, whole_batch, info.fail_under))
        written.append("summary.md")
    if "github-annotations" in chosen:
        files.write_atomically(out / "annotations.txt", github.annotations(whole_batch, info.fail_under) + "\n")
        written.append("annotations.txt")
    return written
