"""The self-contained HTML class report: inline CSS and SVG charts, no script, nothing fetched.

Every text that comes from a submission (paths, messages) is escaped. Rows are written one
grade at a time, so the report of a large class is never held in memory whole.
"""

from __future__ import annotations

from collections.abc import Iterable
from html import escape
from typing import TextIO

from grader import __version__
from grader.models import PASS, Grade
from grader.report.summary import ClassSummary

_STYLE = """
body{font:14px/1.45 system-ui,sans-serif;margin:2em auto;max-width:72em;color:#222;padding:0 1em}
h1{font-size:1.6em}h2{font-size:1.2em;margin-top:2em}
.charts{display:flex;flex-wrap:wrap;gap:2em}figure{margin:0}figcaption{font-weight:600;margin-bottom:.3em}
table{border-collapse:collapse;width:100%}
th,td{border-bottom:1px solid #ddd;padding:.25em .5em;text-align:left;vertical-align:top}
th{background:#f4f4f4;position:sticky;top:0}td.n{text-align:right;font-variant-numeric:tabular-nums}
.pass{color:#17692b}.fail,.missing{color:#a31515}.not_run{color:#888}.status-graded{color:#222}
.status-error,.status-timeout,.status-invalid{color:#a31515;font-weight:600}small{color:#555}
"""
_BAR = 18
_LABEL = 170
_WIDTH = 300


def _bars(rows: list[tuple[str, float, str]], maximum: float) -> str:
    """A horizontal bar chart as inline SVG: (label, value, value text) per bar."""
    height = _BAR * len(rows) + 4
    # Room for the longest label (long misconception names), at about 7 px a character.
    left = max([_LABEL] + [7 * len(label) + 12 for label, _, _ in rows])
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{left + _WIDTH + 60}" height="{height}" role="img">']
    for number, (label, value, text) in enumerate(rows):
        y = number * _BAR + 2
        width = 0 if maximum <= 0 else round(_WIDTH * value / maximum, 1)
        parts.append(f'<text x="{left - 6}" y="{y + 13}" text-anchor="end" font-size="12">{escape(label)}</text>'
                     f'<rect x="{left}" y="{y + 2}" width="{width}" height="{_BAR - 5}" fill="#4a78b5"/>'
                     f'<text x="{left + width + 4}" y="{y + 13}" font-size="12">{escape(text)}</text>')
    parts.append("</svg>")
    return "".join(parts)


def _figure(caption: str, chart: str) -> str:
    return f"<figure><figcaption>{escape(caption)}</figcaption>{chart}</figure>"


def _charts(summary: ClassSummary) -> str:
    figures = [
        _figure("Score distribution", _bars([(label, count, str(count)) for label, count in summary.distribution],
                                             max((count for _, count in summary.distribution), default=0))),
        _figure("Pass rate per step", _bars([(name, summary.pass_rate(passed), f"{summary.pass_rate(passed):.0%}")
                                             for name, passed in summary.step_pass], 1.0)),
    ]
    if summary.first_wrong:
        figures.append(_figure("First wrong step", _bars([(name, count, str(count)) for name, count in summary.first_wrong],
                                                         summary.first_wrong[0][1])))
    if summary.misconceptions:
        top = summary.misconceptions[:10]
        figures.append(_figure("Misconceptions diagnosed", _bars([(name, count, str(count)) for name, count in top],
                                                                 top[0][1])))
    return '<div class="charts">' + "".join(figures) + "</div>"


class HtmlWriter:
    """Writes the report: the summary and charts first, then one table row per grade."""

    def __init__(self, stream: TextIO, title: str, assignment: str, step_names: Iterable[str],
                 summary: ClassSummary) -> None:
        self._stream = stream
        self._steps = list(step_names)
        statuses = ", ".join(f"{count} {status}" for status, count in summary.statuses)
        stream.write(f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
                     f'<meta name="viewport" content="width=device-width, initial-scale=1">'
                     f"<title>{escape(title)}: class report</title><style>{_STYLE}</style></head><body>\n"
                     f"<h1>{escape(title)}: class report</h1>\n"
                     f"<p>{summary.count} submissions ({escape(statuses)}); mean {summary.mean:.2f} / {summary.max_score:g}, "
                     f"median {summary.median:g}, {summary.full_marks} with full marks. "
                     f"<small>Assignment {escape(assignment)}, backprop-grader {escape(__version__)}.</small></p>\n"
                     f"{_charts(summary)}\n<h2>Students</h2>\n<table><thead><tr><th>student</th><th>status</th>"
                     f"<th>score</th><th>first wrong step</th>"
                     + "".join(f"<th>{escape(name)}</th>" for name in self._steps)
                     + "<th>feedback</th></tr></thead><tbody>\n")

    def add(self, grade: Grade) -> None:
        by_name = {step.name: step for step in grade.steps}
        cells = []
        for name in self._steps:
            step = by_name.get(name)
            mark = "" if step is None else f'<span class="{escape(step.status)}" title="{escape(step.message)}">' \
                                           f'{"✓" if step.status == PASS else "✗"} {step.score:g}</span>'
            cells.append(f"<td>{mark}</td>")
        feedback = escape(grade.messages[0]) if grade.messages else ""
        self._stream.write(f'<tr><td>{escape(grade.submission.student)}<br><small>{escape(grade.submission.given)}'
                           f'</small></td><td class="status-{escape(grade.status)}">{escape(grade.status)}</td>'
                           f'<td class="n">{grade.score:g} / {grade.max_score:g}</td>'
                           f"<td>{escape(grade.first_wrong_step or '')}</td>{''.join(cells)}<td>{feedback}</td></tr>\n")

    def finish(self) -> None:
        self._stream.write("</tbody></table>\n</body></html>\n")
