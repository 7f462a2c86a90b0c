"""Feedback pages: each student's own notebook, as HTML, with the grader's verdict after the graded function.

Rendered with nbconvert's HTMLExporter. A notebook is untrusted input and the page is opened by
the student and by instructors, so the student's markdown is rendered and cleaned here
(`safe_html`), raw cells are shown as text, and code is highlighted (escaped) by the exporter;
the feedback block is built here with every piece of text escaped and put in place after
conversion. The block shows only what a Grade holds -- sentences that never carry
a hidden case's values, and public-case values -- and never the code's printed output, which
could include what the function computed on hidden cases. Saved outputs are cleared: the
verdict comes from the grader's run, not from whatever the notebook last printed.
"""

from __future__ import annotations

import html
import re
import uuid
from collections.abc import Iterable
from pathlib import Path

import nbformat
from nbformat import v4

from grader import notebook
from grader.models import FAIL, MISSING, NOT_RUN, PASS, Grade, StepResult
from grader.report import safe_html
from grader.report.files import write_atomically

FOLDER = "feedback"
_BOX = "border:2px solid #3b6fb6;border-radius:6px;padding:0.8em 1.2em;margin:1em 0;background:#f4f8fd"
_CELL = "border:1px solid #c8d3e0;padding:0.3em 0.6em;text-align:left;vertical-align:top"
_MARKS = {PASS: ("right", "#1b7f3b"), FAIL: ("wrong", "#b3261e"), MISSING: ("missing", "#b3261e"),
          NOT_RUN: ("not run", "#666666")}


class FeedbackPages:
    """Renders pages with one exporter, so nbconvert's templates load once per run."""

    def __init__(self, function: str) -> None:
        # Imported here: nbconvert takes about a second to import, and most runs write no pages.
        from nbconvert import HTMLExporter

        self._definition = re.compile(rf"^\s*def\s+{re.escape(function)}\s*\(", re.MULTILINE)
        from nbconvert.filters import markdown2html

        self._markdown = markdown2html
        # The notebook's own content is cleaned here (markdown rendered, then `safe_html`), so the
        # exporter only lays it out: its sanitiser would show every heading and paragraph as tags.
        self._exporter = HTMLExporter(sanitize_html=False)

    def render(self, grade: Grade) -> str:
        """The whole page for one submission."""
        # Content the exporter must not touch (its template cleans raw HTML too strictly) goes in
        # as unique text markers, replaced by the finished HTML after export.
        prefix = f"backprop-grader-{uuid.uuid4().hex}"
        pieces = {f"{prefix}-feedback": feedback_block(grade)}
        try:
            node, _ = notebook.read_node(grade.submission.path)
            page = self._export(node, prefix, pieces, grade.submission.student)
        except Exception:  # an unreadable or malformed notebook still gets its feedback, alone
            pieces = {f"{prefix}-feedback": pieces[f"{prefix}-feedback"]}
            page = self._export(v4.new_notebook(), prefix, pieces, grade.submission.student)
        for marker, html_piece in pieces.items():
            page = page.replace(marker, html_piece, 1)
        return page

    def _export(self, node: nbformat.NotebookNode, prefix: str, pieces: dict[str, str], student: str) -> str:
        for position, cell in enumerate(node.cells):
            cell["source"] = _source(cell)  # files on disk may keep it as a list of lines
            if cell.get("cell_type") == "code":
                cell["outputs"], cell["execution_count"] = [], None
                continue
            if cell.get("cell_type") == "markdown":
                piece = f'<div class="jp-RenderedMarkdown">{safe_html.clean(self._markdown(cell["source"]))}</div>'
            else:  # raw cells (and anything else) are shown as text, never as markup
                piece = f"<pre>{_e(cell['source'])}</pre>"
            marker = f"{prefix}-cell-{position}-end"  # the end keeps cell-1 from matching inside cell-10
            pieces[marker] = piece
            node.cells[position] = v4.new_raw_cell(marker, metadata={"format": "text/html"})
        node.cells.insert(self._block_position(node.cells),
                          v4.new_raw_cell(f"{prefix}-feedback", metadata={"format": "text/html"}))
        # The IPython lexer a notebook usually names is not installed with the grader; plain Python reads the same.
        node.metadata["language_info"] = {"name": "python", "pygments_lexer": "python3"}
        body, _ = self._exporter.from_notebook_node(node, resources={"metadata": {"name": f"Feedback: {student}"}})
        return body

    def _block_position(self, cells: list) -> int:
        """Just after the last cell defining the graded function (the definition that counts), else first."""
        defining = [index for index, cell in enumerate(cells)
                    if cell.get("cell_type") == "code" and self._definition.search(_source(cell))]
        return defining[-1] + 1 if defining else 0


def _source(cell) -> str:
    source = cell.get("source", "")
    return "".join(source) if isinstance(source, list) else str(source)


def feedback_block(grade: Grade) -> str:
    """The grader's verdict as a self-contained HTML fragment, every text escaped."""
    first = f"; first wrong step: <code>{_e(grade.first_wrong_step)}</code>" if grade.first_wrong_step else ""
    parts = [f'<div class="backprop-grader-feedback" style="{_BOX}">',
             "<h2>Grader feedback</h2>",
             f"<p><b>{grade.score:g} / {grade.max_score:g}</b> ({_e(grade.status)}){first}</p>"]
    if any(step.status != NOT_RUN for step in grade.steps):
        parts.append(_step_table(grade.steps))
    if grade.diagnoses:
        items = "".join(f"<li><b>{_e(d.misconception.replace('_', ' '))}</b> (in <code>{_e(d.step)}</code>): "
                        f"{_e(d.message)}</li>" for d in grade.diagnoses)
        parts.append(f"<h3>Recognised mistakes</h3><ul>{items}</ul>")
    sentences = [m for m in grade.messages if not m.startswith(("warning:", "note:"))]
    warnings = [m for m in grade.messages if m.startswith(("warning:", "note:"))]
    if sentences:
        parts.append("<h3>What to do next</h3>" + _list(sentences))
    if warnings:
        parts.append("<h3>Warnings about the notebook</h3>" + _list(warnings))
    parts.append("<p><i>Hidden cases are reported as counts and input shapes only; "
                 "values are shown for the public case (the demo cell's inputs).</i></p></div>")
    return "\n".join(parts)


def _step_table(steps: Iterable[StepResult]) -> str:
    head = "".join(f'<th style="{_CELL}">{title}</th>' for title in ("step", "result", "points", "what the grader says"))
    rows = []
    for step in steps:
        word, colour = _MARKS[step.status]
        if step.status == PASS and step.carried_forward:
            word, colour = "right given your earlier steps", "#8a5a00"
        said = _e(step.message)
        if step.public_got is not None:
            said += (f"<br>got (public case):<pre>{_e(step.public_got)}</pre>"
                     f"expected (public case):<pre>{_e(step.public_expected or '')}</pre>")
        rows.append(f'<tr><td style="{_CELL}"><code>{_e(step.name)}</code></td>'
                    f'<td style="{_CELL};color:{colour}"><b>{word}</b></td>'
                    f'<td style="{_CELL}">{step.score:g}/{step.max_score:g}</td><td style="{_CELL}">{said}</td></tr>')
    return f'<table style="border-collapse:collapse"><thead><tr>{head}</tr></thead><tbody>{"".join(rows)}</tbody></table>'


def _list(sentences: list[str]) -> str:
    return "<ul>" + "".join(f"<li>{_e(sentence)}</li>" for sentence in sentences) + "</ul>"


def _e(text: str) -> str:
    return html.escape(text, quote=True)


def write_pages(grades: Iterable[Grade], function: str, folder: Path) -> list[Path]:
    """One page per submission, named after the student (made unique), written atomically."""
    pages = FeedbackPages(function)
    written: list[Path] = []
    used: set[str] = set()
    for grade in grades:
        stem = re.sub(r"[^\w.-]", "_", grade.submission.student).lstrip(".") or "submission"
        name, number = stem, 1
        while name.lower() in used:  # alice/<assignment>.ipynb and alice.ipynb are both "alice"
            number += 1
            name = f"{stem}-{number}"
        used.add(name.lower())
        path = folder / f"{name}.html"
        write_atomically(path, pages.render(grade))
        written.append(path)
    return written
