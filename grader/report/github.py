"""GitHub Actions: a Markdown job summary and error annotations pointing at the notebooks.

Everything a student controls (file names, printed output, exception messages) ends up in
the job log or the summary. The runner reads any log line that starts with `::` (or holds
`##[`) as a workflow command, so a student could mask text, stop command processing or set
outputs. `log_safe` neutralises those sequences in every line the grader prints in GitHub
mode; annotation values are percent-encoded as GitHub's toolkit does. The summary is a file, never
parsed for commands, but rendered: student text in its Markdown (table cells, list items) is
escaped Markdown with its links defused, and in the `<summary>` lines, which sit inside an HTML
block where Markdown escapes would show literally, it is escaped HTML.
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from grader.models import FAIL, GRADED, MISSING, NOT_RUN, PASS, Grade
from grader.report import files
from grader.report.writer import Format, Run, Writer
from grader.text import printable

if TYPE_CHECKING:
    from grader.report.section import ClassInfo, Section

# Inserted between the characters of `::` and `##[`: invisible in the log, but the runner no
# longer sees a command there.
_ZERO_WIDTH_SPACE = "\u200b"
_COMMAND_MARKERS = re.compile(r"::|##\[")
# Markdown that could change what student text looks like or does: emphasis, code, links and
# images (`[`, `]`, `!`), table cells (`|`), strike-through and math (`~`, `$`).
_MARKDOWN_SPECIAL = re.compile(r"([\\`*_\[\]!|~$])")
# What GitHub's Markdown turns into a link in plain text: a scheme's `://`, `www.`, and an `@`
# (e-mail addresses, @-mentions). An invisible space after `:`, `www` or `@` leaves no link.
_AUTOLINK = re.compile(r"(:)(?=//)|(www)(?=\.)|(@)", re.IGNORECASE)
_CELL_LIMIT = 300
_ITEM_LIMIT = 1000
_STEP_MARK = {PASS: "✅", FAIL: "❌", MISSING: "❌", NOT_RUN: "➖"}


def neutralise(text: str) -> str:
    """Break every `::` and `##[` so that no part of `text` can be read as a workflow command."""
    return _COMMAND_MARKERS.sub(lambda match: match.group(0)[0] + _ZERO_WIDTH_SPACE + match.group(0)[1:], text)


def log_safe(text: str) -> str:
    """Text for the job log: one line per line of `text` (any line break, `\\r` included), commands neutralised."""
    return "\n".join(neutralise(printable(line)) for line in text.splitlines())


def _percent_encoded(text: str) -> str:
    return printable(text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A"))


def escape_data(text: str) -> str:
    """A workflow command's message: GitHub's percent-encoding of `%`, CR and LF, then `::` neutralised."""
    return neutralise(_percent_encoded(text))


def escape_property(text: str) -> str:
    """A workflow command's property value (file, title): `:` and `,` encoded too, which leaves no `::` to break,
    so a file name keeps pointing at its file."""
    return neutralise(_percent_encoded(text).replace(":", "%3A").replace(",", "%2C"))


def _level(grade: Grade, fail_under: float | None) -> str:
    if grade.status != GRADED or (fail_under is not None and grade.percent < fail_under):
        return "error"
    return "notice" if grade.score == grade.max_score else "warning"


def annotation(grade: Grade, fail_under: float | None = None) -> str:
    """One `::error`/`::warning`/`::notice` line on the submission's notebook: score, first wrong step, messages."""
    title = f"{grade.submission.student}: {grade.score:g}/{grade.max_score:g} ({grade.status})"
    if grade.first_wrong_step and grade.status == GRADED:
        title += f", first wrong step {grade.first_wrong_step}"
    lines = [f"score {grade.adjustment.note}"] if grade.adjustment is not None else []
    lines += [f"{step.name}: {step.message}" for step in grade.steps if step.status in (FAIL, MISSING)]
    lines += list(grade.messages)
    message = "\n".join(lines) or "All steps are right."
    properties = f"file={escape_property(grade.submission.given)},title={escape_property(title)}"
    return f"::{_level(grade, fail_under)} {properties}::{escape_data(message)}"


def annotations(grades: Sequence[Grade], fail_under: float | None = None) -> str:
    return "\n".join(annotation(grade, fail_under) for grade in grades)


def shortened(text: str, limit: int) -> str:
    """`text` on one line, at most `limit` characters, cut at a space (never inside a word) with an ellipsis."""
    flat = " ".join(text.split())
    if len(flat) <= limit:
        return flat
    cut = flat[: limit - 1]
    space = cut.rfind(" ")
    # One token longer than the limit (a path, a blob of digits) has no space to cut at.
    return (cut[:space] if space > 0 else cut).rstrip() + "…"


def markdown(text: str, limit: int = _CELL_LIMIT) -> str:
    """Student text as inert Markdown on one line: no HTML, links, images, tables or emphasis it did not mean.

    Workflow commands are neutralised too, so the summary stays harmless if a later step prints it.
    """
    flat = html.escape(shortened(neutralise(text), limit), quote=False)
    flat = _AUTOLINK.sub(lambda match: match.group(0) + _ZERO_WIDTH_SPACE, flat)
    return _MARKDOWN_SPECIAL.sub(r"\\\1", flat)


def html_text(text: str) -> str:
    """Student text inside the summary's HTML (the `<summary>` lines): escaped HTML on one line, commands neutralised."""
    return html.escape(shortened(neutralise(text), _CELL_LIMIT))


def summary(title: str, step_names: Sequence[str], grades: Sequence[Grade], fail_under: float | None = None) -> str:
    """The job summary: a table of scores per step, then each imperfect submission's messages."""
    lines = [f"## {markdown(title)}: grades", ""]
    if not grades:
        return "\n".join(lines + ["No notebooks to grade.", ""])
    mean = sum(grade.score for grade in grades) / len(grades)
    full = sum(grade.score == grade.max_score for grade in grades)
    line = f"{len(grades)} submission(s), mean {mean:.2f}/{grades[0].max_score:g}, {full} with full marks"
    if fail_under is not None:
        below = sum(grade.percent < fail_under for grade in grades)
        line += f", {below} below the required {fail_under:g}%"
    lines += [line + ".", ""]
    lines.append("| Student | Score | Status | " + " | ".join(f"`{name}`" for name in step_names) + " |")
    lines.append("|---|---:|---|" + "---|" * len(step_names))
    for grade in grades:
        marks = {step.name: f"{_STEP_MARK[step.status]} {step.score:g}/{step.max_score:g}" for step in grade.steps}
        adjusted = f" (adjusted from {grade.adjustment.original:g})" if grade.adjustment is not None else ""
        cells = [markdown(grade.submission.student), f"{grade.score:g}/{grade.max_score:g}{adjusted}", grade.status]
        cells += [marks.get(name, "") for name in step_names]
        lines.append("| " + " | ".join(cells) + " |")
    lines.append("")
    for grade in grades:
        if grade.status == GRADED and grade.score == grade.max_score and grade.adjustment is None:
            continue
        lines += ["<details>", f"<summary>{html_text(grade.submission.student)}: {grade.score:g}/{grade.max_score:g}, "
                  f"{html_text(grade.submission.given)}</summary>", ""]
        if grade.adjustment is not None:
            lines.append(f"- score {markdown(grade.adjustment.note, _ITEM_LIMIT)}")
        lines += [f"- **{markdown(step.name)}**: {markdown(step.message, _ITEM_LIMIT)}" for step in grade.steps
                  if step.status in (FAIL, MISSING)]
        lines += [f"- {markdown(message, _ITEM_LIMIT)}" for message in grade.messages]
        lines += [f"- diagnosis ({markdown(d.step)}): {markdown(d.misconception)}: {markdown(d.message, _ITEM_LIMIT)}"
                  for d in grade.diagnoses]
        lines += ["", "</details>", ""]
    return "\n".join(lines)


Sections = list[tuple["ClassInfo", list[Grade]]]


class _WholeRun(Writer):
    """One file for the whole run, rendered from every section's grades, held until the run ends."""

    def __init__(self, run: Run, name: str, render: Callable[[Sections, float | None], str]) -> None:
        self._run, self._name, self._render = run, name, render
        self._sections: Sections = []

    def begin(self, section: Section) -> None:
        self._sections.append((section.info, []))

    def add(self, position: int, grade: Grade) -> None:
        self._sections[-1][1].append(grade)

    def close(self, failure: BaseException | None = None) -> None:
        if failure is None and self._sections:
            fail_under = self._sections[0][0].fail_under
            self._run.ledger.attempt(self._name, lambda: files.write_atomically(
                self._run.out / self._name, self._render(self._sections, fail_under)))


def _summary_of(sections: Sections, fail_under: float | None) -> str:
    return "\n".join(summary(info.title, info.step_names, grades, fail_under) for info, grades in sections)


def _annotations_of(sections: Sections, fail_under: float | None) -> str:
    return annotations([grade for _, grades in sections for grade in grades], fail_under) + "\n"


FORMATS = (
    Format("github-summary", "summary.md, the Markdown job summary --github appends on GitHub Actions",
           lambda run: _WholeRun(run, "summary.md", _summary_of)),
    Format("github-annotations", "annotations.txt, the workflow commands --github prints",
           lambda run: _WholeRun(run, "annotations.txt", _annotations_of)),
)
