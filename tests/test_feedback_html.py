"""HTML feedback pages: a valid document with the student's code and the feedback, and no hidden case's values."""

from __future__ import annotations

from html.parser import HTMLParser

import nbformat
import numpy as np
import pytest
from click.testing import CliRunner

from grader.cli import grade
from tests.feedback_notebooks import run_grade
from tests.hidden_values import hidden_cases, leaks, spellings
from tests.notebooks import SOLUTIONS, reference_body, student_notebook, write

TRANSPOSED_LINE = "delta_w_i_h = learnrate * np.outer(hidden_error_term, x)"
# Prints every value it computes, hidden cases included: that output must never reach a page.
PRINTING = reference_body().replace("return delta_w_h_o", "print(hidden_error, hidden_error_term, delta_w_h_o, delta_w_i_h)\n"
                                                          "return delta_w_h_o")
VOID = frozenset({"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"})


class _Document(HTMLParser):
    """Checks that elements nest properly and collects the text a reader sees."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.open: list[str] = []
        self.seen: set[str] = set()
        self.problems: list[str] = []
        self.text: list[str] = []
        self._hidden_text = 0

    def handle_starttag(self, tag, attrs):
        self.seen.add(tag)
        if tag not in VOID:
            self.open.append(tag)
            self._hidden_text += tag in ("style", "script")

    def handle_endtag(self, tag):
        if tag in VOID:
            return
        if not self.open or self.open[-1] != tag:
            self.problems.append(f"</{tag}> closes <{self.open[-1] if self.open else None}> at {self.getpos()}")
            return
        self.open.pop()
        self._hidden_text -= tag in ("style", "script")

    def handle_data(self, data):
        if not self._hidden_text:
            self.text.append(data)


def _parsed(page: str) -> _Document:
    document = _Document()
    document.feed(page)
    document.close()
    return document


@pytest.fixture(scope="module")
def pages(tmp_path_factory) -> dict[str, str]:
    folder = tmp_path_factory.mktemp("html")
    submissions = folder / "submissions"
    write(student_notebook(reference_body(delta_w_i_h="learnrate * np.outer(hidden_error_term, x)")), submissions / "emeka.ipynb")
    write(student_notebook(reference_body(error="output_layer_out - target")), submissions / "chen.ipynb")
    write(student_notebook(PRINTING), submissions / "priya.ipynb")
    (submissions / "hana.ipynb").write_text('{"cells": [', encoding="utf-8")
    code, document, stderr = run_grade(submissions, "--out", folder / "out", "--feedback-html")
    assert code == 0, stderr
    assert "4 feedback page(s) written" in stderr
    return {row["student"]: (folder / "out" / "feedback" / f"{row['student']}.html").read_text(encoding="utf-8")
            for row in document["submissions"]}


@pytest.mark.parametrize("student", ["emeka", "chen", "priya", "hana"])
def test_page_is_a_valid_document(pages, student):
    page = pages[student]
    assert page.lstrip().lower().startswith("<!doctype html>")
    document = _parsed(page)
    assert document.problems == []
    assert document.open == []
    assert {"html", "head", "title", "body"} <= document.seen


def test_page_holds_the_students_code_and_the_feedback_after_it(pages):
    text = "".join(_parsed(pages["emeka"]).text)
    assert TRANSPOSED_LINE in text
    feedback = text.index("Grader feedback")
    assert text.index("def backward_pass(") < feedback < text.index("# Create some random data")
    block = text[feedback:]
    assert "9 / 10" in block
    assert "outer product transposed" in block and "Hint:" in block
    assert "got (public case):" in block
    assert "Grader feedback" in _parsed(pages["hana"]).text and "not valid JSON" in "".join(_parsed(pages["hana"]).text)


def test_gradient_check_and_warnings_reach_the_page(pages):
    text = " ".join(_parsed(pages["chen"]).text)
    assert "error sign flipped" in text
    assert "exactly the opposite of the gradient-descent step" in text


def test_no_hidden_expected_value_on_any_page(pages):
    cases = hidden_cases()
    numbers = set().union(*(spellings(v) for case in cases for value in case.expected.values() for v in value.ravel()))
    assert len(numbers) > 1000
    # The scanner finds values printed the way numpy prints them (what a leak would look like).
    assert leaks(np.array2string(cases[5].expected["delta_w_i_h"]), numbers)
    for student, page in pages.items():
        assert leaks(page, numbers) == [], student


def test_feedback_html_needs_out(tmp_path):
    notebook = write(student_notebook(reference_body()), tmp_path / "alice.ipynb")
    result = CliRunner().invoke(grade, [str(notebook), "--solutions", str(SOLUTIONS), "--feedback-html"])
    assert result.exit_code == 2
    assert "--out" in result.output


def test_markdown_renders_as_markup_and_nothing_of_the_student_runs(tmp_path):
    book = student_notebook(reference_body())
    book.cells.insert(0, nbformat.v4.new_markdown_cell(
        "# My notes\n\nSome *emphasis* <script>alert(1)</script> [link](javascript:alert(2)) <img src=x onerror=alert(3)>"))
    book.cells.insert(1, nbformat.v4.new_raw_cell("<b>raw</b><script>alert(4)</script>"))
    write(book, tmp_path / "class" / "mallory.ipynb")
    out = tmp_path / "out"
    assert run_grade(str(tmp_path / "class"), "--out", str(out), "--feedback-html")[0] == 0
    page = (out / "feedback" / "mallory.html").read_text(encoding="utf-8")
    assert '<h1 id="My-notes">My notes' in page and "<em>emphasis</em>" in page
    # The markdown's script, script link and event handler are gone; the raw cell is shown as text only.
    assert all(f"alert({n})" not in page for n in (1, 2, 3))
    assert "onerror" not in page and "javascript:" not in page and "<script>alert" not in page
    assert "&lt;b&gt;raw&lt;/b&gt;&lt;script&gt;alert(4)" in page
