"""The self-contained HTML class report: inline CSS and SVG charts, no script, nothing fetched.

Laid out for a laptop screen: the overview (charts and mistakes side by side) over a student
table that fits the window's width (long names and messages wrap, scores and marks never do).
Each graded student's row says in words what went wrong; submissions that could not be graded
(invalid, error, timeout) are listed apart with the reason, never among the scores.

Every text that comes from a submission (paths, messages) is escaped, and a Content-Security-Policy
forbids scripts and fetches should any escape ever be missed. Graded rows are written one grade at a
time, so the report of a large class is never held in memory whole; only the rows of the
submissions that could not be graded wait for the end of the table.
"""

from __future__ import annotations

from collections.abc import Iterable
from html import escape
from typing import TextIO
from urllib.parse import quote

from grader import __version__
from grader.models import FAIL, GRADED, MISSING, PASS, Grade, StepResult
from grader.report.html import PageNames
from grader.report.summary import ClassSummary, mistake_title, totals

_POLICY = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; form-action 'none'; base-uri 'none'"
_STYLE = """
body{font:14px/1.45 system-ui,sans-serif;margin:1.5em auto;max-width:110em;color:#222;padding:0 1.5em}
h1{font-size:1.5em;margin:0 0 .3em}h2{font-size:1.15em;margin:1.6em 0 .5em}small,.given{color:#555}
.overview{display:grid;grid-template-columns:repeat(auto-fit,minmax(21em,1fr));gap:1.2em 2.5em;align-items:start}
figure{margin:0;min-width:0}figcaption{font-weight:600;margin-bottom:.3em}figure svg{max-width:100%;height:auto}
table{border-collapse:collapse;width:100%}
th,td{border-bottom:1px solid #ddd;padding:.3em .45em;text-align:left;vertical-align:top}
th{background:#f4f4f4;position:sticky;top:0;font-weight:600}
.n,.mark{text-align:right;white-space:nowrap;font-variant-numeric:tabular-nums}
.who,.msg{overflow-wrap:anywhere}.who{min-width:7em;max-width:16em}.msg{min-width:18em}
.pass{color:#17692b}.fail,.missing{color:#a31515}.not_run{color:#888}.carried{color:#8a5a00}
.status{color:#a31515;font-weight:600}td ul{margin:0;padding-left:1.1em}.msg b{font-weight:600}
.given{display:block;font-size:.85em}
.adjusted{display:block;font-size:.85em;color:#8a5a00;white-space:normal;text-align:left;min-width:9em}
"""
_BAR = 18
_LABEL = 130
_WIDTH = 220


def _bars(rows: list[tuple[str, float, str]], maximum: float) -> str:
    """A horizontal bar chart as inline SVG: (label, value, value text) per bar; it shrinks to its column."""
    height = _BAR * len(rows) + 4
    # Room for the longest label, at about 7 px a character.
    left = max([_LABEL] + [7 * len(label) + 12 for label, _, _ in rows])
    width = left + _WIDTH + 40
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
             f'viewBox="0 0 {width} {height}" role="img">']
    for number, (label, value, text) in enumerate(rows):
        y = number * _BAR + 2
        bar = 0 if maximum <= 0 else round(_WIDTH * value / maximum, 1)
        parts.append(f'<text x="{left - 6}" y="{y + 13}" text-anchor="end" font-size="12">{escape(label)}</text>'
                     f'<rect x="{left}" y="{y + 2}" width="{bar}" height="{_BAR - 5}" fill="#4a78b5"/>'
                     f'<text x="{left + bar + 4}" y="{y + 13}" font-size="12">{escape(text)}</text>')
    parts.append("</svg>")
    return "".join(parts)


def _figure(caption: str, body: str) -> str:
    return f"<figure><figcaption>{escape(caption)}</figcaption>{body}</figure>"


def _overview(summary: ClassSummary) -> str:
    if not summary.graded:
        return "<p>No submission could be graded.</p>"
    graded = f" ({summary.graded} graded)"
    figures = [
        _figure("Scores" + graded, _bars([(label, count, str(count)) for label, count in summary.distribution],
                                         max(count for _, count in summary.distribution))),
        _figure("Pass rate per step", _bars([(name, summary.pass_rate(passed), f"{summary.pass_rate(passed):.0%}")
                                             for name, passed in summary.step_pass], 1.0)),
    ]
    if summary.first_wrong:
        figures.append(_figure("First wrong step", _bars([(name, count, str(count)) for name, count in summary.first_wrong],
                                                         summary.first_wrong[0][1])))
    if summary.mistakes:
        rows = "".join(f"<tr><td>{escape(m.title)}</td><td>{_breakable(m.step)}</td><td class=\"n\">{m.count}</td></tr>"
                       for m in summary.mistakes)
        head = '<thead><tr><th>mistake</th><th>step</th><th class="n">students</th></tr></thead>'
        figures.append(_figure("Known mistakes diagnosed", f"<table>{head}<tbody>{rows}</tbody></table>"))
    return '<div class="overview">' + "".join(figures) + "</div>"


def _breakable(name: str) -> str:
    """A step name that may wrap after its underscores in a narrow column header."""
    return "_<wbr>".join(escape(part) for part in name.split("_"))


def _mark(step: StepResult | None) -> str:
    if step is None:
        return "<td></td>"
    if step.status == PASS:
        kind, sign = ("carried", "✓*") if step.carried_forward else ("pass", "✓")
    else:
        kind, sign = step.status, "✗" if step.status in (FAIL, MISSING) else "–"
    return f'<td class="mark {escape(kind)}">{sign}&nbsp;{step.score:g}</td>'


def _what_went_wrong(grade: Grade) -> str:
    """In words: each wrong or missing step's message, the first wrong one first."""
    wrong = [step for step in grade.steps if step.status in (FAIL, MISSING)]
    wrong.sort(key=lambda step: step.name != grade.first_wrong_step)
    if not wrong:
        return ""
    return "<ul>" + "".join(f"<li><b>{escape(step.name)}</b>: {escape(step.message)}</li>" for step in wrong) + "</ul>"


def _adjusted(grade: Grade) -> str:
    """An instructor's override under the score: what it was and why (grader/overrides.py)."""
    if grade.adjustment is None:
        return ""
    return (f'<span class="adjusted">{grade.score:g} after override, was {grade.adjustment.original:g}: '
            f"{escape(grade.adjustment.text)}</span>")


class HtmlWriter:
    """Writes the report: the totals and overview first, then one table row per graded submission, then the
    submissions that could not be graded.

    With `feedback` (the folder of the feedback pages, relative to the report), each student links to their
    page; the pages are named as `grade --feedback-html` names them, in the same order of grades.
    """

    def __init__(self, stream: TextIO, title: str, assignment: str, step_names: Iterable[str],
                 summary: ClassSummary, feedback: str | None = None) -> None:
        self._stream = stream
        self._steps = list(step_names)
        self._feedback = feedback
        self._pages = PageNames()
        self._apart: list[str] = []
        line = escape(totals(summary))
        if summary.not_graded:
            line += ' (<a href="#not-graded">listed below</a>)'
        stream.write(f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
                     f'<meta http-equiv="Content-Security-Policy" content="{_POLICY}">'
                     f'<meta name="viewport" content="width=device-width, initial-scale=1">'
                     f"<title>{escape(title)}: class report</title><style>{_STYLE}</style></head><body>\n"
                     f"<h1>{escape(title)}: class report</h1>\n"
                     f"<p>{line}. <small>Assignment {escape(assignment)}, backprop-grader {escape(__version__)}."
                     f"</small></p>\n{_overview(summary)}\n"
                     f"<h2>Graded ({summary.graded})</h2>\n<table><thead><tr><th>student</th>"
                     f'<th class="n">score</th>'
                     + "".join(f'<th class="n">{_breakable(name)}</th>' for name in self._steps)
                     + "<th>known mistakes</th><th>what went wrong</th></tr></thead><tbody>\n")

    def _student(self, grade: Grade) -> str:
        page = self._pages.next(grade.submission.student)
        name = escape(grade.submission.student)
        if self._feedback is not None:
            href = escape(quote(f"{self._feedback}/{page}"))
            name = f'<a href="{href}">{name}</a>'
        return f'<td class="who">{name}<span class="given">{escape(grade.submission.given)}</span></td>'

    def add(self, grade: Grade) -> None:
        student = self._student(grade)
        if grade.status != GRADED:
            reason = (escape(grade.messages[0]) if grade.messages else "") + _adjusted(grade)
            self._apart.append(f'<tr>{student}<td class="status">{escape(grade.status)}</td>'
                               f'<td class="msg">{reason}</td></tr>\n')
            return
        by_name = {step.name: step for step in grade.steps}
        titles = "".join(f"<li>{escape(mistake_title(d.misconception))}</li>" for d in grade.diagnoses)
        mistakes = f"<ul>{titles}</ul>" if titles else ""
        self._stream.write(f'<tr>{student}<td class="n">{grade.score:g}&nbsp;/&nbsp;{grade.max_score:g}{_adjusted(grade)}</td>'
                           + "".join(_mark(by_name.get(name)) for name in self._steps)
                           + f'<td>{mistakes}</td><td class="msg">{_what_went_wrong(grade)}</td></tr>\n')

    def finish(self) -> None:
        self._stream.write("</tbody></table>\n")
        if self._apart:
            self._stream.write(f'<h2 id="not-graded">Not graded ({len(self._apart)})</h2>\n'
                               "<table><thead><tr><th>student</th><th>status</th><th>why</th></tr></thead><tbody>\n"
                               + "".join(self._apart) + "</tbody></table>\n")
        self._stream.write("<p><small>✓ right, ✓* right from the student's own wrong earlier values (error "
                           "carried forward), ✗ wrong or missing, – not run; the number is the step's points."
                           "</small></p>\n</body></html>\n")
