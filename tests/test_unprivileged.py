"""The unprivileged re-run (tests/unprivileged.py) works wherever the checkout sits.

Mechanism held (issue 9, "Also"): a checkout inside a folder uid 65534 cannot traverse (a clone
in a private `mktemp -d`, mode 0700) is exposed to the re-run at its own path, as a Python
installed under /root is, so the suite's unprivileged tests run from any checkout.
"""

from __future__ import annotations

import os
import shutil
import stat
import tempfile
from pathlib import Path

from click.testing import CliRunner

from grader.cli import grade
from grader.sandbox import namespaces
from tests.notebooks import SOLUTIONS, reference_body, student_notebook, write
from tests.unprivileged import MARKER, NOBODY, REPO, run_unprivileged

_NOT_COPIED = shutil.ignore_patterns(".git", ".venv", "__pycache__", ".pytest_cache", ".ruff_cache", "*.egg-info")


def test_grades_as_whoever_runs_it(tmp_path):
    """A right notebook gets full marks through the CLI; in the re-run, as uid 65534 (the re-run's own check)."""
    if os.environ.get(MARKER):
        assert (os.geteuid(), os.getegid()) == (NOBODY, NOBODY)
    notebook = write(student_notebook(reference_body()), tmp_path / "alice.ipynb")
    result = CliRunner().invoke(grade, [str(notebook), "--solutions", str(SOLUTIONS), "-q", "--jobs", "1"],
                                env={"GRADER_SEED": None, "GRADER_SOLUTIONS": None})
    assert result.exit_code == 0, result.output
    assert "10/10" in result.output.replace(" ", "")


def test_rerun_from_a_checkout_in_a_private_folder():
    """A copy of the checkout inside a 0700 folder: the re-run as uid 65534 still runs a test from it."""
    private = Path(tempfile.mkdtemp(prefix="backprop-grader-private-"))
    try:
        clone = private / "clone"
        shutil.copytree(REPO, clone, ignore=_NOT_COPIED)
        assert stat.S_IMODE(private.stat().st_mode) == 0o700
        assert namespaces.first_untraversable(str(clone)) == str(private)
        result = run_unprivileged("tests/test_unprivileged.py::test_grades_as_whoever_runs_it", repo=clone, timeout=90)
    finally:
        shutil.rmtree(private, ignore_errors=True)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "1 passed" in result.stdout
