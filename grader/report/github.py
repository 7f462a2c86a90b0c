"""GitHub Actions: a Markdown job summary and error annotations pointing at the notebooks.

Everything a student controls (file names, printed output, exception messages) ends up in
the job log or the summary. The runner reads any log line that starts with `::` (or holds
`##[`) as a workflow command, so a student could mask text, stop command processing or set
outputs. `log_safe` neutralises those sequences in every line the grader prints in GitHub
mode; annotation values are percent-encoded as GitHub's toolkit does, and the summary is
escaped Markdown (it is a file, never parsed for commands, but is rendered as HTML).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from grader.models import FAIL, GRADED, MISSING, NOT_RUN, PASS, Grade
from grader.text import printable

# Inserted between the characters of `::` and `##[`: invisible in the log, but the runner no
# longer sees a command there.
_ZERO_WIDTH_SPACE = "\u200b"
_COMMAND_MARKERS = re.compile(r"::|##\[")
# Markdown that could change what student text looks like or does: emphasis, code, links and
# images (`[`, `]`, `!`), table cells (`|`), strike-through and math (`~`, `$`).
_MARKDOWN_SPECIAL = re.compile(r"([\\`*_\[\]!|~$])")
_CELL_LIMIT = 300
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
    lines = [f"{step.name}: {step.message}" for step in grade.steps if step.status in (FAIL, MISSING)]
    lines += list(grade.messages)
    message = "\n".join(lines) or "All steps are right."
    properties = f"file={escape_property(grade.submission.given)},title={escape_property(title)}"
    return f"::{_level(grade, fail_under)} {properties}::{escape_data(message)}"


def annotations(grades: Sequence[Grade], fail_under: float | None = None) -> str:
    return "\n".join(annotation(grade, fail_under) for grade in grades)


def markdown(text: str) -> str:
    """Student text as inert Markdown on one line: no HTML, links, images, tables or emphasis it did not mean.

    Workflow commands are neutralised too, so the summary stays harmless if a later step prints it.
    """
    flat = neutralise(" ".join(text.split()))
    if len(flat) > _CELL_LIMIT:
        flat = flat[: _CELL_LIMIT - 1] + "…"
    flat = flat.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return _MARKDOWN_SPECIAL.sub(r"\\\1", flat)


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
        cells = [markdown(grade.submission.student), f"{grade.score:g}/{grade.max_score:g}", grade.status]
        cells += [marks.get(name, "") for name in step_names]
        lines.append("| " + " | ".join(cells) + " |")
    lines.append("")
    for grade in grades:
        if grade.status == GRADED and grade.score == grade.max_score:
            continue
        lines += ["<details>", f"<summary>{markdown(grade.submission.student)}: {grade.score:g}/{grade.max_score:g}, "
                  f"{markdown(grade.submission.given)}</summary>", ""]
        lines += [f"- **{markdown(step.name)}**: {markdown(step.message)}" for step in grade.steps
                  if step.status in (FAIL, MISSING)]
        lines += [f"- {markdown(message)}" for message in grade.messages]
        lines += [f"- diagnosis ({markdown(d.step)}): {markdown(d.misconception)}: {markdown(d.message)}"
                  for d in grade.diagnoses]
        lines += ["", "</details>", ""]
    return "\n".join(lines)
