"""What a student (or an instructor scrolling a class) reads in the terminal.

Colours are ANSI codes; the command line strips them when the output is not a terminal.
"""

from __future__ import annotations

from grader.models import ERROR, FAIL, GRADED, INVALID, MISSING, NOT_RUN, PASS, TIMEOUT, Grade, StepResult
from grader.report.summary import mistake_title
from grader.text import one_line, printable

QUIET, NORMAL, VERBOSE = 0, 1, 2
_COLOURS = {"green": 32, "red": 31, "yellow": 33, "cyan": 36, "dim": 2, "bold": 1}
_STATUS_COLOUR = {GRADED: "bold", ERROR: "red", TIMEOUT: "red", INVALID: "red"}
_REASON_WIDTH = 100


def paint(text: str, colour: str) -> str:
    return f"\x1b[{_COLOURS[colour]}m{text}\x1b[0m"


def _points(value: float) -> str:
    return f"{value:g}"


def headline(grade: Grade, reason: bool = False) -> str:
    """The submission in one line: who, score (an ungraded one's has no meaning: its status instead), where.

    With `reason`, an ungraded submission's line also says why (the first of its messages), cut short.
    """
    student = paint(printable(grade.submission.student), "bold")
    status = paint(grade.status, _STATUS_COLOUR[grade.status])
    given = f"({printable(grade.submission.given)})"
    if grade.status != GRADED and grade.adjustment is None:
        why = f"  {_shortened(one_line(grade.messages[0]), _REASON_WIDTH)}" if reason and grade.messages else ""
        return f"{student}  {status}  {given}{why}"
    adjusted = f" (adjusted from {_points(grade.adjustment.original)})" if grade.adjustment else ""
    first = f"  first wrong step: {grade.first_wrong_step}" if grade.first_wrong_step and grade.status == GRADED else ""
    return f"{student}  {_points(grade.score)}/{_points(grade.max_score)}{adjusted}  {status}{first}  {given}"


def _shortened(text: str, width: int) -> str:
    return text if len(text) <= width else text[:width - 1].rstrip() + "…"


def _mark(step: StepResult) -> str:
    if step.status == PASS:
        return paint("carried", "yellow") if step.carried_forward else paint("pass   ", "green")
    return {FAIL: paint("FAIL   ", "red"), MISSING: paint("missing", "red"), NOT_RUN: paint("not run", "dim")}[step.status]


def render(grade: Grade, verbosity: int = NORMAL) -> str:
    """One submission: a headline, then (unless QUIET: that line alone) a line per step and what to do next."""
    lines = [headline(grade, reason=verbosity == QUIET)]
    if verbosity == QUIET:
        return "\n".join(lines)
    if grade.adjustment is not None:
        lines.append(f"  {paint('adjusted', 'yellow')} from {_points(grade.adjustment.original)} to "
                     f"{_points(grade.score)}: {grade.adjustment.text}")
    width = max(len(step.name) for step in grade.steps) if grade.steps else 0
    judged = any(step.status != NOT_RUN for step in grade.steps)
    if judged:
        for step in grade.steps:
            points = f"{_points(step.score):>3}/{_points(step.max_score)}"
            lines.append(f"  {_mark(step)}  {step.name:<{width}}  {points}  {step.message}")
            if step.public_got is not None and (step.name == grade.first_wrong_step or verbosity >= VERBOSE):
                lines.append(_indent("got (public case):      ", step.public_got, 6))
                lines.append(_indent("expected (public case): ", step.public_expected or "", 6))
    messages = list(grade.messages)
    if verbosity < VERBOSE:
        important = [m for m in messages if not m.startswith(("warning:", "note:"))]
        context = [m for m in messages if m.startswith(("warning:", "note:"))]
        more = [f"({len(context) - 3} more warnings and notes with -v)"] if len(context) > 3 else []
        messages = important + context[:3] + more
    lines.extend(f"  {message}" for message in messages)
    for diagnosis in grade.diagnoses:
        title = mistake_title(diagnosis.misconception)
        lines.append(f"  {paint('diagnosis', 'cyan')} [{diagnosis.step}] {title}: {diagnosis.message}")
    if verbosity >= VERBOSE and grade.output.strip():
        lines.append("  printed by the notebook:")
        lines.extend(f"    | {line}" for line in grade.output.rstrip().splitlines()[:40])
    return "\n".join(lines)


def _indent(label: str, text: str, spaces: int) -> str:
    pad = " " * (spaces + len(label))
    body = text.splitlines() or [""]
    return " " * spaces + label + body[0] + "".join("\n" + pad + line for line in body[1:])
