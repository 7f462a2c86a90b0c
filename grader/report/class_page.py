"""The `html` format: html_report's class page, one per assignment, registered without touching its module."""

from __future__ import annotations

from typing import TYPE_CHECKING

from grader.report.writer import Format, PiecewiseFile, Run, Writer

if TYPE_CHECKING:
    from grader.models import Grade
    from grader.report.section import Section


class _ClassPageWriter(Writer):
    def __init__(self, run: Run) -> None:
        self._run = run
        self._open: list[PiecewiseFile] = []

    def begin(self, section: Section) -> None:
        # Imported for a page, not with the registry: `grade-check` (which loads the registry with the command line)
        # never writes one, and its start waits for every import (html_report and what it loads: about 11 ms).
        from grader.report import html_report

        info = section.info
        name = self._run.per_assignment("report", ".html", info)
        self._open.append(PiecewiseFile(self._run, name, lambda stream: html_report.HtmlWriter(
            stream, info.title, info.assignment, info.step_names, section.summary, info.feedback)))

    def add(self, position: int, grade: Grade) -> None:
        self._open[-1].call("add", grade)

    def close(self, failure: BaseException | None = None) -> None:
        for page in self._open:
            page.close(failure)


FORMATS = (Format("html", "report.html, the class report: score distribution, steps, mistakes, every student",
                  _ClassPageWriter),)
