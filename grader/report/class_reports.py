"""The report files of a batch in the output folder, written from grades streamed one at a time."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from grader.models import Grade
from grader.report import files, gradebook, html_report, json_report
from grader.report.summary import ClassSummary
from grader.shard import Shard

FILES = ("results.json", "gradebook.csv", "report.html")


@dataclass(frozen=True)
class ClassInfo:
    """What every report says about the batch besides its grades."""

    assignment: str
    title: str
    step_names: tuple[str, ...]
    max_score: float


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


def write_all(out: Path, info: ClassInfo, summary: ClassSummary, entries: Iterable[tuple[int, Grade]],
              shard: Shard | None = None) -> tuple[str, ...]:
    """results.json, gradebook.csv and report.html in `out`, each atomically, in one pass over `entries`."""
    with (files.atomic_stream(out / "results.json") as json_stream, files.atomic_stream(out / "gradebook.csv") as csv_stream,
          files.atomic_stream(out / "report.html") as html_stream):
        as_json = json_report.JsonWriter(json_stream, json_fields(info, shard))
        as_csv = gradebook.CsvWriter(csv_stream, info.step_names)
        as_html = html_report.HtmlWriter(html_stream, info.title, info.assignment, info.step_names, summary)
        for position, grade in entries:
            as_json.add(document(position, grade, shard))
            as_csv.add(grade)
            as_html.add(grade)
        as_json.finish()
        as_html.finish()
    return FILES
