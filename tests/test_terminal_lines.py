"""What `grade` prints for a class: one line per student by default, details with -v, a tally that counts by status."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from grader.cli import grade
from tests.conftest import CLEAN_ENV
from tests.notebooks import SOLUTIONS

EXAMPLES = Path(__file__).resolve().parents[1] / "examples" / "submissions"
STUDENTS = ("alice", "bilal", "chen", "dana", "emeka", "fatima", "gus", "hana")
STEP_LINE = re.compile(r"^  (pass   |FAIL   |missing|not run|carried)  ")


def _grade(*options: str, paths: tuple[Path, ...] = (EXAMPLES,)):
    result = CliRunner().invoke(grade, [*map(str, paths), "--solutions", str(SOLUTIONS), "--jobs", "2", *options],
                                env=CLEAN_ENV)
    assert result.exit_code == 0, result.stderr
    return result


@pytest.fixture(scope="module")
def default():
    return _grade()


def test_a_class_prints_one_line_per_student_then_the_summary(default):
    """Mechanism: _ClassLines renders each grade at terminal.QUIET when the run holds more than one submission."""
    lines = default.stdout.splitlines()
    for student in STUDENTS:
        assert sum(line.startswith(f"{student}  ") for line in lines) == 1, default.stdout
    assert not [line for line in lines if STEP_LINE.match(line) or line.lstrip().startswith("diagnosis")]
    assert lines[len(STUDENTS)].startswith("Summary: 8 submissions")
    assert len(lines) <= len(STUDENTS) + 6


def test_an_ungraded_line_shows_its_status_and_why_never_a_score(default):
    """Mechanism: terminal.headline gives an ungraded submission its status and first message instead of 0/10."""
    hana = next(line for line in default.stdout.splitlines() if line.startswith("hana  "))
    gus = next(line for line in default.stdout.splitlines() if line.startswith("gus  "))
    assert hana.startswith("hana  invalid  (") and "/10" not in hana and "not valid JSON" in hana
    assert gus.startswith("gus  error  (") and "/10" not in gus and "SyntaxError" in gus


def test_the_tally_counts_invalid_and_error_apart_from_graded(default):
    """Mechanism: the Tallied event carries the statuses; invalid and error are never counted as graded."""
    assert re.search(r"^8 submissions: 6 graded, 1 error, 1 invalid; \d+ run now, \d+ resumed from the results log, "
                     r"\d+ from the cache$", default.stderr, re.MULTILINE), default.stderr


def test_verbose_shows_every_step_and_names_mistakes_in_words():
    """Mechanism: -v renders each grade in full; diagnoses print summary.mistake_title, as the class report does."""
    verbose = _grade("-v").stdout
    assert len([line for line in verbose.splitlines() if STEP_LINE.match(line)]) >= 6 * 6
    diagnoses = [line for line in verbose.splitlines() if line.lstrip().startswith("diagnosis")]
    assert diagnoses and all(not re.search(r"\] [a-z]+_[a-z_]+:", line) for line in diagnoses), diagnoses
    assert any("] Output derivative missing: " in line for line in diagnoses), diagnoses


def test_one_notebook_is_shown_whole_and_quiet_keeps_one_line():
    """Mechanism: a run of a single submission is a student's own, rendered at NORMAL; -q keeps the one line and
    drops the progress bar and colours."""
    dana = (EXAMPLES / "dana" / "backward_pass.ipynb",)
    whole = _grade(paths=dana).stdout
    assert len([line for line in whole.splitlines() if STEP_LINE.match(line)]) == 6
    quiet = _grade("-q", paths=dana)
    (line,) = quiet.stdout.splitlines()
    assert re.match(r"dana  \d+/10  graded  first wrong step: ", line), line
    assert "progress" not in quiet.stderr and "\x1b[" not in quiet.stdout
