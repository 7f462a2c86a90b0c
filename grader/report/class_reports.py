"""The report files of a batch in the output folder, written from grades streamed one at a time."""

from __future__ import annotations

from collections.abc import Callable, Iterable
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


def documents(entries: Iterable[tuple[int, Grade]], shard: Shard | None) -> Iterable[dict]:
    """Submission entries of the JSON report; in a shard, each with its position in the whole class."""
    for position, grade in entries:
        document = json_report.grade_document(grade)
        if shard is not None:
            document["position"] = position
        yield document


def write_all(out: Path, info: ClassInfo, summary: ClassSummary, entries: Callable[[], Iterable[tuple[int, Grade]]],
              shard: Shard | None = None) -> tuple[str, ...]:
    """results.json, gradebook.csv and report.html in `out`, each atomically; `entries` is read once per file."""
    with files.atomic_stream(out / "results.json") as stream:
        json_report.write(stream, json_fields(info, shard), documents(entries(), shard))
    with files.atomic_stream(out / "gradebook.csv") as stream:
        gradebook.write(stream, info.step_names, (grade for _, grade in entries()))
    with files.atomic_stream(out / "report.html") as stream:
        html_report.write(stream, info.title, info.assignment, info.step_names, summary, (grade for _, grade in entries()))
    return FILES
