"""Feedback pages reuse the cells an earlier page rendered: the same bytes as a page rendered alone, memory bounded.

A class's notebooks share most cells (the assignment's text, the code it gives), so a page renderer
renders each distinct cell once (`html.FeedbackPages._cell`). These tests hold that sharing to the pages
a renderer that shares nothing would write, through the real CLI with one and with two workers, and
hold its memory to `html.MEMO_CHARS` whatever the notebooks hold.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from grader import records
from grader.models import Submission
from grader.report import html
from tests.notebooks import SOLUTIONS, reference_body, student_notebook, write

FUNCTION = "backward_pass"


def _class(folder: Path) -> Path:
    """Notebooks that share cells, differ in one, or hold the same text as another kind of cell or cut differently."""
    submissions = folder / "class"
    write(student_notebook(reference_body()), submissions / "right.ipynb")
    write(student_notebook(reference_body(hidden_error="np.dot(weights_hidden_to_output, error)")),
          submissions / "mistaken.ipynb")
    shared = "## Notes\n\nThe derivative of the sigmoid is $s(1 - s)$."
    book = student_notebook(reference_body(), extra_cells=["print('mine')"])
    book.cells.insert(1, nbformat.v4.new_markdown_cell(shared))
    write(book, submissions / "notes.ipynb")
    book = student_notebook(reference_body())
    # The same text as a code cell and as a raw cell: three different renderings of one source.
    book.cells.insert(1, nbformat.v4.new_code_cell(shared))
    book.cells.insert(2, nbformat.v4.new_raw_cell(shared))
    book.cells.insert(3, nbformat.v4.new_markdown_cell(shared))
    write(book, submissions / "kinds.ipynb")
    # A cell at the cap, and the same text with more past the cap: the same text rendered, one of them cut.
    long = ("word " * html.MAX_CELL_CHARS)[: html.MAX_CELL_CHARS]
    book = student_notebook(reference_body())
    book.cells.insert(1, nbformat.v4.new_markdown_cell(long))
    book.cells.insert(2, nbformat.v4.new_markdown_cell(long + "more words"))
    write(book, submissions / "long.ipynb")
    return submissions


def _unshared() -> html.FeedbackPages:
    """A renderer that renders every cell afresh, even one it rendered before on the same page."""
    pages = html.FeedbackPages(FUNCTION)
    pages._cell = pages._fresh_cell
    return pages


def _alone(out: Path) -> dict[str, str]:
    """Each graded student's page rendered by a renderer that shares nothing, from the run's results log."""
    pages = {}
    for line in (out / "results.jsonl").read_text(encoding="utf-8").splitlines():
        record = json.loads(line)["grade"]
        grade = records.grade_or_none(record, Submission(record["submission"], record["submission"], record["student"]))
        assert grade is not None
        pages[grade.submission.student] = _unshared().render(grade)
    return pages


@pytest.mark.parametrize("jobs", [1, 2])
def test_pages_are_the_pages_rendered_alone(tmp_path, jobs):
    submissions = _class(tmp_path)
    out = tmp_path / "out"
    result = subprocess.run([sys.executable, "-m", "grader", str(submissions), "--solutions", str(SOLUTIONS),
                             "--out", str(out), "--feedback-html", "--jobs", str(jobs), "-q"],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-3000:]
    alone = _alone(out)
    assert len(alone) == 5
    for student, page in alone.items():
        assert (out / "feedback" / f"{student}.html").read_text(encoding="utf-8") == page, student


def _grade(path: Path, student: str):
    from grader import judge
    from grader.assignment import load

    rubric = load(SOLUTIONS, FUNCTION).rubric
    return judge.unjudged(Submission(str(path), str(path), student), rubric, "error", ["not graded in this test"])


def test_a_shared_cell_is_rendered_once_and_every_page_is_whole(tmp_path, monkeypatch):
    shared = [nbformat.v4.new_markdown_cell(f"# Part {n}\n\nText of the assignment.") for n in range(5)]
    grades = []
    for n in range(4):
        book = student_notebook(reference_body(), extra_cells=[f"# written by student {n}"])
        book.cells[1:1] = shared
        grades.append(_grade(write(book, tmp_path / f"s{n}.ipynb"), f"s{n}"))
    pages = html.FeedbackPages(FUNCTION)
    rendered: list[tuple[str, str, int]] = []
    fresh = pages._fresh_cell
    monkeypatch.setattr(pages, "_fresh_cell", lambda *cell: rendered.append(cell) or fresh(*cell))
    written = [pages.render(grade) for grade in grades]
    assert len(rendered) == len(set(rendered))  # no cell rendered twice
    assert sum(cell[0] == "markdown" and cell[1].startswith("# Part") for cell in rendered) == len(shared)
    assert all(f"# written by student {n}" in page for n, page in enumerate(written))
    assert written == [_unshared().render(grade) for grade in grades]


def test_memory_stays_within_its_bound(tmp_path, monkeypatch):
    """Notebooks of many large cells, each unique: the renderer keeps at most MEMO_CHARS characters."""
    monkeypatch.setattr(html, "MEMO_CHARS", 400_000)
    pages = html.FeedbackPages(FUNCTION)
    for n in range(6):
        book = student_notebook(reference_body())
        book.cells += [nbformat.v4.new_markdown_cell(f"{n}-{k} " + "x" * 15_000) for k in range(8)]
        pages.render(_grade(write(book, tmp_path / f"big{n}.ipynb"), f"big{n}"))
        assert pages._rendered_chars <= html.MEMO_CHARS
        assert pages._rendered_chars == sum(len(piece) + len(source) for (_, source, _), piece in pages._rendered.items())
    assert len(pages._rendered) < 6 * 8  # the oldest were let go
    assert any(key[1].startswith("5-7 ") for key in pages._rendered)  # the latest are kept
