"""The report files of a batch in the output folder, written from grades streamed one at a time.

Every chosen format (grader.report.formats) is fed the same grades in one pass over them. The
formats written piece by piece (JSON, CSV, the HTML class report, the per-student Gradescope
files) keep memory flat however large the class; JUnit, Canvas and the GitHub summary and
annotations hold what they need of the batch, and only when asked for.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TextIO

from grader.errors import InternalError
from grader.models import Grade
from grader.report import formats, json_report
from grader.report.section import ClassInfo, Section
from grader.report.summary import ClassSummary
from grader.report.writer import Ledger, Run
from grader.shard import Shard
from grader.text import printable


def write_json(stream: TextIO, sections: Sequence[Section], shard: Shard | None) -> None:
    """The JSON report of a run, one section (assignment) after the other."""
    if len(sections) == 1:
        json_report.write(stream, json_report.json_fields(sections[0].info, shard),
                          (json_report.document(position, grade, shard) for position, grade in sections[0].entries))
        return
    json_report.write(stream, json_report.mixed_fields([section.info for section in sections]),
                      (json_report.document(position, grade, shard, section.info.assignment)
                       for section in sections for position, grade in section.entries))


class ReportsFailed(InternalError):
    """Some report files could not be written; every other one was."""


def write_all(out: Path, info: ClassInfo, summary: ClassSummary, entries: Iterable[tuple[int, Grade]],
              chosen: Sequence[str] = formats.DEFAULT, shard: Shard | None = None) -> list[str]:
    """Write each chosen format into `out` for a run over one assignment; the names written."""
    return write_sections(out, [Section(info, summary, entries)], chosen, shard)


def write_sections(out: Path, sections: Sequence[Section], chosen: Sequence[str] = formats.DEFAULT,
                   shard: Shard | None = None) -> list[str]:
    """Write each chosen format into `out`, each file atomically, in one pass over the grades; the names written.

    One section (assignment): the files as always. Several: one results.json and gradebook.csv
    for the whole run (each submission naming its assignment), and per assignment its class
    report report-<assignment>.html and its junit-<assignment>.xml. A file that fails (a full
    disk, a writer's bug on one row) costs that file alone: every other one is still written,
    then ReportsFailed says which failed and why.
    """
    run = Run(out, tuple(section.info for section in sections), shard, Ledger())
    writers = formats.open_writers(run, chosen)
    try:
        for section in sections:
            for writer in writers:
                writer.begin(section)
            for position, grade in section.entries:
                for writer in writers:
                    writer.add(position, grade)
            for writer in writers:
                writer.end()
    except BaseException as failure:
        for writer in writers:
            writer.close(failure)
        raise
    for writer in writers:
        writer.close()
    if run.ledger.failed:
        reasons = "; ".join(f"{name} ({type(error).__name__}: {error})" for name, error in run.ledger.failed.items())
        done = ", ".join(run.ledger.written) or "none"
        raise ReportsFailed(printable(f"could not write {reasons} in {out}/; written: {done}").replace("\n", " "))
    return run.ledger.written
