"""Feedback pages stay bounded: notebooks built to make a page slow or huge are graded through the real CLI.

Mechanism held (issue 9, mechanism 6): rendering a page is linear in what it renders and renders
at most `MAX_CELLS` cells, `MAX_CELL_CHARS` characters of a cell and `MAX_PAGE_CHARS` in all,
each cut said on the page; and no page loads anything (scripts, styles, images) from anywhere.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from html.parser import HTMLParser
from pathlib import Path

import nbformat
import pytest

from grader.report import html
from tests.notebooks import SOLUTIONS, reference_body, student_notebook, write
from tests.unprivileged import MARKER, run_unprivileged

N = 60_000
# One markdown cell each, built to be quadratic (or deep, or huge) for a parser or a renderer.
MARKDOWN = {
    "comments": "<!--" * N,
    "cdata": "<![CDATA[" * N,
    "divs": "<div" * N,
    "links": '<a href="' * N,
    "quotes": ">" * 100_000,
    "brackets": "[" * 100_000,
    "nested": "<b><i>" * 50_000 + "</p>" * 50_000,
    "line": "word " * (3 * 1024 * 1024),  # a 15 MiB single line
}
MANY_CELLS = 20_000
PAGE_BYTES = 5 * 1024 * 1024
# Elements whose address the browser loads by itself, with no click.
LOADING = {"script": "src", "link": "href", "img": "src", "iframe": "src", "source": "src", "embed": "src",
           "object": "data", "audio": "src", "video": "src", "input": "src", "track": "src"}


class _Loads(HTMLParser):
    """Every address a page would load on opening, and every script element."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.loads: list[str] = []
        self.scripts = 0

    def handle_starttag(self, tag, attrs):
        self.scripts += tag == "script"
        self.loads += [value or "" for name, value in attrs if name == LOADING.get(tag) or name == "srcset"]


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> tuple[Path, float, str]:
    folder = tmp_path_factory.mktemp("bounds")
    submissions = folder / "class"
    write(student_notebook(reference_body()), submissions / "normal.ipynb")
    for name, text in MARKDOWN.items():
        book = student_notebook(reference_body())
        book.cells.insert(1, nbformat.v4.new_markdown_cell(text))
        write(book, submissions / f"{name}.ipynb")
    book = student_notebook(reference_body())
    # The fields new_code_cell gives a cell, without its schema check of each one (5 s for 20,000 cells).
    book.cells += [nbformat.from_dict({"id": f"cell-{n}", "cell_type": "code", "metadata": {}, "execution_count": None,
                                       "source": f"# cell {n}", "outputs": []}) for n in range(MANY_CELLS)]
    write(book, submissions / "cells.ipynb")
    out = folder / "out"
    start = time.monotonic()
    result = subprocess.run([sys.executable, "-m", "grader", str(submissions), "--solutions", str(SOLUTIONS),
                             "--out", str(out), "--feedback-html", "--jobs", "2", "-q"],
                            capture_output=True, text=True, timeout=120)
    elapsed = time.monotonic() - start
    assert result.returncode == 0, result.stderr[-3000:]
    assert f"{len(MARKDOWN) + 2} feedback page(s) written" in result.stderr
    return out / "feedback", elapsed, result.stderr


def _page(run, student: str) -> str:
    return (run[0] / f"{student}.html").read_text(encoding="utf-8")


@pytest.mark.parametrize("student", [*MARKDOWN, "cells", "normal"])
def test_page_is_bounded_and_loads_nothing(run, student):
    """A hostile cell gives a page of bounded size that loads no script, style or image from anywhere."""
    page = _page(run, student)
    assert len(page.encode()) < PAGE_BYTES
    assert "Grader feedback" in page and "10 / 10" in page
    loads = _Loads()
    loads.feed(page)
    loads.close()
    assert loads.scripts == 0
    assert [address for address in loads.loads if not address.startswith(("data:", "#"))] == []
    assert "http://" not in page.replace('href="http://', "") and "https://" not in page.replace('href="https://', "")


def test_whole_run_stays_within_the_time_of_a_few_normal_pages(run):
    """Nine pages built to be quadratic or huge and a normal one, graded and written in one run inside a minute."""
    assert run[1] < 60, run[2]


def test_cut_cells_are_said_on_the_page(run):
    """Each cut is visible where it happens: cells beyond the cap, characters beyond a cell's cap."""
    cells = _page(run, "cells")
    assert f"… {MANY_CELLS + len(student_notebook().cells) - html.MAX_CELLS:,} more cells not shown: " \
           f"the page shows the first {html.MAX_CELLS:,}." in cells
    line = _page(run, "line")
    cut = len(MARKDOWN["line"]) - html.MAX_CELL_CHARS
    assert f"… {cut:,} more characters of this cell not shown: the page shows the first {html.MAX_CELL_CHARS:,}." in line
    for student in ("comments", "divs", "links"):
        assert "more characters of this cell not shown" in _page(run, student)
    assert "not shown" not in _page(run, "normal")


def test_unclosed_markup_is_shown_as_text(run):
    """Unclosed comments and tags are text, not a swallowed rest of the page."""
    assert "&lt;!--&lt;!--" in _page(run, "comments")
    assert "&lt;div&lt;div" in _page(run, "divs")
    assert '&lt;a href="&lt;a href="' in _page(run, "links")
    nested = _page(run, "nested")
    assert nested.count("<b>") <= html.safe_html.MAX_DEPTH


def test_page_budget_cuts_a_notebook_of_many_long_cells(tmp_path):
    """The page's character budget ends the rendering of many cells each under the per-cell cap."""
    book = student_notebook(reference_body())
    book.cells += [nbformat.v4.new_markdown_cell("x" * (html.MAX_CELL_CHARS - 1)) for _ in range(40)]
    write(book, tmp_path / "class" / "long.ipynb")
    result = subprocess.run([sys.executable, "-m", "grader", str(tmp_path / "class"), "--solutions", str(SOLUTIONS),
                             "--out", str(tmp_path / "out"), "--feedback-html", "-q"],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr[-3000:]
    page = (tmp_path / "out" / "feedback" / "long.html").read_text(encoding="utf-8")
    assert f"(the page shows at most {html.MAX_PAGE_CHARS:,} characters of source)" in page
    assert page.count("x" * 1000) <= html.MAX_PAGE_CHARS // 1000


@pytest.mark.skipif(os.environ.get(MARKER) is not None, reason="this is the unprivileged re-run itself")
def test_page_budget_unprivileged():
    """The page budget again as uid 65534 (pages are written by whoever runs grade)."""
    result = run_unprivileged("tests/test_page_bounds.py::test_page_budget_cuts_a_notebook_of_many_long_cells")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "1 passed" in result.stdout
