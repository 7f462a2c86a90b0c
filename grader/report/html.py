"""Feedback pages: each student's own notebook, as HTML, with the grader's verdict after the graded function.

A notebook is untrusted input and the page is opened by the student and by instructors, so the
page is built here, in one small shell that loads nothing (no script, no stylesheet or font
from the network): the student's markdown is rendered and cleaned (`safe_html`), its LaTeX shown
as MathML, which browsers render natively (`mathml`), raw cells are
shown as text, and code is highlighted (escaped) by Pygments, nbconvert's highlighter. The feedback
block shows only what a Grade holds -- sentences that never carry a hidden case's values, and
public-case values -- and never the code's printed output, which could include what the
function computed on hidden cases; saved outputs are not shown at all.

A page is bounded whatever the notebook holds: at most `MAX_CELLS` cells, `MAX_CELL_CHARS`
characters of each and `MAX_PAGE_CHARS` in all are rendered, every step of the rendering is
linear in what it renders, and each cut is said on the page where it happens.
"""

from __future__ import annotations

import collections
import html
import itertools
import re
import signal
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from grader import notebook
from grader.models import FAIL, MISSING, NOT_RUN, PASS, Grade, StepResult
from grader.report import mathml, safe_html
from grader.report.files import write_atomically

if TYPE_CHECKING:
    from concurrent.futures import Future

FOLDER = "feedback"
MAX_CELLS = 300
"""Cells rendered on one page; the rest are counted in a note."""
MAX_CELL_CHARS = 20_000
"""Characters of one cell's source rendered; the rest of the cell is counted in a note."""
MAX_PAGE_CHARS = 200_000
"""Characters of source rendered on one page: about two seconds of highlighting on a slow machine."""
MEMO_CHARS = 1_000_000
"""Characters of rendered cells (and their sources) a page renderer keeps to reuse on later pages."""
_BOX = "border:2px solid #3b6fb6;border-radius:6px;padding:0.8em 1.2em;margin:1em 0;background:#f4f8fd"
_CELL = "border:1px solid #c8d3e0;padding:0.3em 0.6em;text-align:left;vertical-align:top"
_MARKS = {PASS: ("right", "#1b7f3b"), FAIL: ("wrong", "#b3261e"), MISSING: ("missing", "#b3261e"),
          NOT_RUN: ("not run", "#666666")}
_STYLE = """body{font-family:system-ui,sans-serif;max-width:60em;margin:2em auto;padding:0 1em;line-height:1.45}
.cell{margin:0.8em 0}.code{border:1px solid #d0d7de;border-radius:4px;background:#f6f8fa;padding:0 0.6em;overflow-x:auto}
.code pre,.raw{margin:0.5em 0;white-space:pre}.cut{color:#8a5a00;font-style:italic}"""


@dataclass(frozen=True)
class _Shown:
    """What of a notebook a page renders: the cells' (kind, source) and what was left out."""

    cells: tuple[tuple[str, str, int], ...]
    """(cell type, source rendered, characters of that cell cut) per rendered cell."""
    hidden_cells: int
    cut_by_page: bool
    """The page's character budget, not the cell count, ended the rendering."""


class FeedbackPages:
    """Renders pages with one highlighter and one markdown renderer, loaded once per run."""

    def __init__(self, function: str) -> None:
        # Imported here: nbconvert takes about a second to import, and most runs write no pages.
        from nbconvert.filters import markdown2html
        from pygments import highlight  # nbconvert's own highlighter, installed with it
        from pygments.formatters import HtmlFormatter
        from pygments.lexers import PythonLexer

        self._definition = re.compile(rf"^\s*def\s+{re.escape(function)}\s*\(", re.MULTILINE)
        self._markdown = markdown2html
        # One lexer and formatter for every cell: nbconvert's filter looks the lexer up per call,
        # which cost more than the highlighting itself on a notebook of many small cells. Plain
        # Python: the IPython lexer a notebook usually names is not installed with the grader.
        lexer, formatter = PythonLexer(), HtmlFormatter()
        self._highlight = lambda source: highlight(source, lexer, formatter)
        self._style = _STYLE + formatter.get_style_defs(".highlight")
        self._rendered: collections.OrderedDict[tuple[str, str, int], str] = collections.OrderedDict()
        self._rendered_chars = 0

    def render(self, grade: Grade) -> str:
        """The whole page for one submission."""
        try:
            node, _ = notebook.read_data(grade.submission.path)
            cells = node["cells"]
        except Exception:  # an unreadable or malformed notebook still gets its feedback, alone
            cells = []
        shown = _bounded(cells)
        pieces = [self._cell(kind, source, cut) for kind, source, cut in shown.cells]
        pieces.insert(self._block_position(shown.cells), feedback_block(grade))
        if shown.hidden_cells:
            why = f" (the page shows at most {MAX_PAGE_CHARS:,} characters of source)" if shown.cut_by_page else ""
            pieces.append(_note(f"… {shown.hidden_cells:,} more cells not shown: the page shows the first "
                                f"{len(shown.cells):,}{why}."))
        title = _e(f"Feedback: {grade.submission.student}")
        return (f'<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n<title>{title}</title>\n'
                f'<style>{self._style}</style>\n</head>\n<body>\n<main>\n' + "\n".join(pieces)
                + "\n</main>\n</body>\n</html>\n")

    def _cell(self, kind: str, source: str, cut: int) -> str:
        """A cell's HTML, found again when this renderer rendered the same cell before (on any page).

        A class's notebooks share most of their cells (the assignment's text, the code it gives), and the
        HTML is a function of the cell alone: rendered once, not on every page, they made a page of the
        benchmark's class about three times cheaper. The cells used last are kept, up to `MEMO_CHARS`
        characters, so notebooks of many large unique cells cost no more memory than that.
        """
        key = (kind, source, cut)
        piece = self._rendered.get(key)
        if piece is not None:
            self._rendered.move_to_end(key)
            return piece
        piece = self._fresh_cell(kind, source, cut)
        if len(piece) <= MEMO_CHARS // 8:
            self._rendered[key] = piece
            self._rendered_chars += len(piece) + len(source)
            while self._rendered_chars > MEMO_CHARS:
                (_, old_source, _), old_piece = self._rendered.popitem(last=False)
                self._rendered_chars -= len(old_piece) + len(old_source)
        return piece

    def _fresh_cell(self, kind: str, source: str, cut: int) -> str:
        if kind == "code":
            piece = f'<div class="cell code">{self._highlight(source)}</div>'
        elif kind == "markdown":
            piece = f'<div class="cell markdown">{mathml.render(safe_html.clean(self._markdown(source)))}</div>'
        else:  # raw cells (and anything else) are shown as text, never as markup
            piece = f'<div class="cell"><pre class="raw">{_e(source)}</pre></div>'
        if cut:
            piece += _note(f"… {cut:,} more characters of this cell not shown: the page shows the first {len(source):,}.")
        return piece

    def _block_position(self, cells: tuple[tuple[str, str, int], ...]) -> int:
        """Just after the last rendered cell defining the graded function (the definition that counts), else first."""
        defining = [index for index, (kind, source, _) in enumerate(cells)
                    if kind == "code" and self._definition.search(source)]
        return defining[-1] + 1 if defining else 0


def _bounded(cells: list) -> _Shown:
    """The cells a page renders, each cut to `MAX_CELL_CHARS`, until `MAX_CELLS` or `MAX_PAGE_CHARS` is reached."""
    shown: list[tuple[str, str, int]] = []
    budget = MAX_PAGE_CHARS
    for cell in cells:
        if len(shown) == MAX_CELLS or budget <= 0:
            break
        source = _source(cell)
        kept = source[:min(MAX_CELL_CHARS, budget)]
        budget -= len(kept)
        kind = cell.get("cell_type") if isinstance(cell, dict) else None
        shown.append((kind if kind in ("code", "markdown") else "raw", kept, len(source) - len(kept)))
    return _Shown(tuple(shown), len(cells) - len(shown), budget <= 0 and len(shown) < len(cells))


def _source(cell) -> str:
    source = cell.get("source", "") if isinstance(cell, dict) else ""
    return "".join(map(str, source)) if isinstance(source, list) else str(source)


def _note(text: str) -> str:
    return f'<p class="cut">{_e(text)}</p>'


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


class PageNames:
    """The file names of a run's pages, given in the order the pages are written: the class report links to them."""

    def __init__(self) -> None:
        self._used: set[str] = set()

    def next(self, student: str) -> str:
        stem = re.sub(r"[^\w.-]", "_", student).lstrip(".") or "submission"
        name, number = stem, 1
        while name.lower() in self._used:  # alice/<assignment>.ipynb and alice.ipynb are both "alice"
            number += 1
            name = f"{stem}-{number}"
        self._used.add(name.lower())
        return f"{name}.html"


def write_pages(grades: Iterable[Grade], function: str, folder: Path, jobs: int = 1,
                on_written: Callable[[int], None] | None = None) -> list[Path]:
    """One page per submission, named after the student (made unique), written atomically.

    With `jobs` > 1 and more than a few pages, `jobs` worker processes render and write them in
    parallel, each loading the highlighter and markdown renderer once; `on_written(n)` is told
    of every n pages finished. Names are given here, in the order of `grades`, whoever writes.
    """
    names = PageNames()
    named = ((grade, folder / names.next(grade.submission.student)) for grade in grades)
    chunks = _chunks(named, _CHUNK)
    first = list(itertools.islice(chunks, jobs + 1))
    if jobs <= 1 or len(first) <= 1:
        return _write_here(itertools.chain(first, chunks), function, on_written)
    return _write_in_pool(itertools.chain(first, chunks), function, jobs, on_written)


_CHUNK = 4
"""Pages per task given to a worker: enough that passing the grades costs little next to rendering them."""


def _chunks(items: Iterable, size: int) -> Iterator[list]:
    iterator = iter(items)
    while chunk := list(itertools.islice(iterator, size)):
        yield chunk


def _write_here(chunks: Iterable[list[tuple[Grade, Path]]], function: str,
                on_written: Callable[[int], None] | None) -> list[Path]:
    pages = FeedbackPages(function)
    written: list[Path] = []
    for chunk in chunks:
        for grade, path in chunk:
            write_atomically(path, pages.render(grade))
            written.append(path)
        if on_written is not None:
            on_written(len(chunk))
    return written


def _write_in_pool(chunks: Iterable[list[tuple[Grade, Path]]], function: str, jobs: int,
                   on_written: Callable[[int], None] | None) -> list[Path]:
    """The chunks written by `jobs` workers, at most two chunks per worker in flight (memory stays flat)."""
    import multiprocessing  # imported here, like nbconvert: most runs write no pages
    from concurrent.futures import ProcessPoolExecutor

    # Forked workers start at once; a parent with threads still running forks unsafely, so it spawns then.
    context = multiprocessing.get_context("fork" if threading.active_count() == 1 else "spawn")
    written: list[Path] = []
    pending: collections.deque = collections.deque()
    with ProcessPoolExecutor(jobs, mp_context=context, initializer=_start_worker, initargs=(function,)) as pool:
        try:
            for chunk in chunks:
                if len(pending) >= 2 * jobs:
                    _collect(pending.popleft(), written, on_written)
                pending.append((pool.submit(_write_chunk, chunk), [path for _, path in chunk]))
            while pending:
                _collect(pending.popleft(), written, on_written)
        except BaseException:
            pool.shutdown(wait=True, cancel_futures=True)
            raise
    return written


def _collect(task: tuple[Future, list[Path]], written: list[Path], on_written: Callable[[int], None] | None) -> None:
    future, paths = task
    future.result()
    written.extend(paths)
    if on_written is not None:
        on_written(len(paths))


_worker_pages: FeedbackPages | None = None


def _start_worker(function: str) -> None:
    """A page worker: Ctrl-C and SIGTERM are the parent's to handle (it stops handing out pages)."""
    global _worker_pages
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    _worker_pages = FeedbackPages(function)


def _write_chunk(chunk: list[tuple[Grade, Path]]) -> None:
    for grade, path in chunk:
        write_atomically(path, _worker_pages.render(grade))
