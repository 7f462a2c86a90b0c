"""Helpers of the export tests: a small class of real notebooks (built with tests.notebooks) and the real command line."""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path

import nbformat
from click.testing import CliRunner, Result

from grader import cli
from tests.notebooks import SOLUTIONS, STUB, reference_body, student_notebook, write

# A slip in the outer product (one hidden unit's column only): delta_w_i_h has the wrong shape
# while every other step is right, so the notebook scores 9/10.
NO_OUTER = reference_body(delta_w_i_h="learnrate * x[:, None] * hidden_error_term[:1]")

# Variables that change what `grade` does: tests set the ones they mean to (this suite also runs
# inside GitHub Actions, where GITHUB_ACTIONS=true would turn GitHub mode on).
CLEAN_ENV: dict[str, str | None] = {name: None for name in (
    "GITHUB_ACTIONS", "GITHUB_STEP_SUMMARY", "GRADER_SEED", "GRADER_SOLUTIONS", "AUTOGRADER_ROOT")}


def run_grade(*arguments: str, env: Mapping[str, str] | None = None) -> Result:
    """`grade` through Click, against the worktree's solutions, two jobs, in a clean environment plus `env`."""
    return CliRunner().invoke(cli.grade, [*arguments, "--solutions", str(SOLUTIONS), "--jobs", "2"],
                              env={**CLEAN_ENV, **(env or {})}, catch_exceptions=False)


def write_class(folder: Path) -> Path:
    """`folder` with one right (alice), one 9/10 (bob) and one untouched (carol) notebook, as submissions/."""
    write(student_notebook(), folder / "alice" / "backward_pass.ipynb")
    write(student_notebook(NO_OUTER), folder / "bob" / "backward_pass.ipynb")
    write(nbformat.read(STUB, as_version=4), folder / "carol" / "backward_pass.ipynb")
    return folder


def check_gradescope_document(document: dict) -> None:
    """The keys and value types of Gradescope's autograder specification (results.json)."""
    assert isinstance(document["score"], float)
    assert isinstance(document["execution_time"], int | float)
    assert isinstance(document["output"], str)
    assert document.get("stdout_visibility", "hidden") in ("hidden", "visible")
    assert isinstance(document["tests"], list) and document["tests"]
    for test in document["tests"]:
        assert isinstance(test["name"], str) and test["name"]
        assert isinstance(test["score"], float) and isinstance(test["max_score"], float)
        assert 0 <= test["score"] <= test["max_score"] or test["max_score"] == 0
        assert test["status"] in ("passed", "failed")
        assert isinstance(test["output"], str)
        assert test["visibility"] in ("visible", "hidden", "after_due_date", "after_published")
    assert abs(document["score"] - sum(test["score"] for test in document["tests"])) < 1e-9


# A line that starts a workflow command once leading whitespace is trimmed, as the runner does,
# and is one of the grader's annotations.
ANNOTATION = re.compile(r"^::(error|warning|notice) file=[^:,]*,title=[^:,]*::(.*)$")
PAYLOADS = ("::add-mask::", "::set-output name=x::y", "::stop-commands::token", "##[add-mask]")


def commands_in(text: str) -> list[str]:
    """The grader's annotations in `text`, after checking that no other line (split at any line
    break) can be read as a workflow command and that no annotation's data holds a `::`."""
    annotations = []
    for line in text.splitlines():
        stripped = line.lstrip()
        assert "##[" not in line
        if stripped.startswith("::"):
            match = ANNOTATION.match(stripped)
            assert match, f"a workflow command that is not ours: {line!r}"
            assert "::" not in match.group(2)
            annotations.append(stripped)
    for payload in PAYLOADS:
        assert payload not in text
    return annotations
