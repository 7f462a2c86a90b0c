"""GitHub Actions output: the job summary, annotations, and no workflow command smuggled in by a student."""

from __future__ import annotations

import nbformat
import pytest

from grader.report import github
from tests.exports_support import NO_OUTER, PAYLOADS, commands_in, run_grade, write_class
from tests.notebooks import STUB, student_notebook, write


def test_escape_data_and_property():
    assert github.escape_data("100% done\r\nnext") == "100%25 done%0D%0Anext"
    assert github.escape_property("a:b,c%") == "a%3Ab%2Cc%25"
    assert "::" not in github.escape_data("x ::add-mask:: y")
    assert github.log_safe("ok\r::stop-commands::t\n  ##[add-mask]x").splitlines()[1].startswith(":\u200b:")


def test_markdown_is_inert():
    text = github.markdown("| ![img](http://x) <script>alert(1)</script> **bold** $x$\nnext")
    assert "<script>" not in text and "\n" not in text
    assert "\\|" in text and "\\!\\[img\\]" in text and "\\*\\*bold\\*\\*" in text and "\\$x\\$" in text


def test_github_mode_summary_annotations_and_exit(tmp_path):
    klass = write_class(tmp_path / "submissions")
    summary = tmp_path / "summary.md"
    summary.write_text("earlier step's summary\n")
    result = run_grade(str(klass), "--fail-under", "95", env={"GITHUB_STEP_SUMMARY": str(summary), "GITHUB_ACTIONS": "true"})
    assert result.exit_code == 1
    text = summary.read_text()
    assert text.startswith("earlier step's summary\n## Implementing a Backward Pass: grades")
    assert "3 submission(s), mean 6.33/10, 1 with full marks, 2 below the required 95%." in text
    annotations = commands_in(result.output)
    levels = {line.split(" file=")[1].split(",")[0]: line.split(" ")[0] for line in annotations}
    assert levels == {f"{klass}/alice/backward_pass.ipynb": "::notice", f"{klass}/bob/backward_pass.ipynb": "::error",
                      f"{klass}/carol/backward_pass.ipynb": "::error"}


def test_no_github_overrides_the_environment(tmp_path):
    notebook = write(student_notebook(NO_OUTER), tmp_path / "alice.ipynb")
    result = run_grade(str(notebook), "--no-github", env={"GITHUB_ACTIONS": "true"})
    assert result.exit_code == 0 and "::" not in result.output


INJECTION_CELL = r'''
import os, sys
print("::add-mask::secretvalue")
print("::set-output name=x::y")
print("::stop-commands::token")
print("   ::warning::indented")
print("##[add-mask]v1-syntax")
sys.stdout.write("carriage\r::add-mask::after-cr\n")
os.write(1, b"::add-mask::raw-fd-1\n")
os.write(2, b"::stop-commands::raw-fd-2\n")
'''

INJECTION_BODY = r'''
raise ValueError("boom\n::add-mask::in-exception\r\n::set-output name=x::y\n::stop-commands::token\n##[add-mask]z")
'''


@pytest.mark.parametrize("verbose", [False, True])
def test_student_text_never_becomes_a_workflow_command(tmp_path, verbose):
    summary = tmp_path / "summary.md"
    folder = tmp_path / "submissions"
    write(student_notebook(extra_cells=(INJECTION_CELL,)), folder / "::set-output name=x::y" / "backward_pass.ipynb")
    write(student_notebook(INJECTION_BODY, extra_cells=(INJECTION_CELL,)), folder / "mallory" / "::add-mask::file.ipynb")
    write(student_notebook(INJECTION_BODY), folder / "new\n::stop-commands::line" / "backward_pass.ipynb")
    (folder / "::add-mask::invalid.ipynb").write_text("::add-mask::not json\n##[add-mask]x")
    book = nbformat.read(STUB, as_version=4)
    book.metadata["::add-mask::"] = "::set-output name=x::y"
    nbformat.write(book, folder / "##[add-mask]meta.ipynb")
    result = run_grade(str(folder), "--github", "--out", str(tmp_path / "out"), *(["-v"] if verbose else []),
                       env={"GITHUB_STEP_SUMMARY": str(summary)})
    assert result.exit_code == 0, result.output
    assert "in-exception" in result.output  # the exception message is shown, only defused
    annotations = commands_in(result.output)
    assert len(annotations) == 5
    for payload in PAYLOADS:
        assert payload not in summary.read_text()
