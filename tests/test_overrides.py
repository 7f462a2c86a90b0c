"""An instructor's overrides (OUT/overrides.csv, grader/overrides.py) through the real `grade` command.

One class (examples/submissions) is graded once with every report format and an override file
holding every kind of row, good and bad; a second run, resumed from the results log, shows the
file is read again (edited rows take effect, a removed one is undone) and never written.
"""

from __future__ import annotations

import csv
import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from click.testing import CliRunner

from grader import overrides
from grader.cli import grade
from grader.report import formats
from tests.conftest import CLEAN_ENV, invoke_grade
from tests.notebooks import SOLUTIONS

REPO = Path(__file__).resolve().parents[1]
EXAMPLES = REPO / "examples" / "submissions"
EVERY_FORMAT = [argument for name in formats.NAMES for argument in ("--format", name)]

OVERRIDES = """\ufeff# overrides of the backward pass (a comment line)
student,assignment,change,reason,by,when,beyond_max
alice,,-10%,late penalty,TA Kim,2026-11-20,
chen,backward_pass,+5,regrade: the sign convention is accepted,,,
dana,,-20,copied the solution,,,
emeka,,12,bonus for the extension,,,yes
fatima,,+1,regrade request,,,
fatima,,-50%,late by a week,,,
gus,,6,graded by hand: the syntax error was a copy slip,,,
nobody,,5,a typo in the id,,,
chen,forward_pass,1,another assignment,,,
hana,,7x,not a change,,,
bilal,,3,,,,
bilal,,3,too many cells,,,,extra
bilal,,3,unclear bonus,,,maybe

"""
WARNINGS = {
    10: "no submission of 'nobody' in this run",
    11: "no submission of 'chen' for forward_pass in this run",
    12: "change '7x' is not a score (7), points (+1, -2) or a percentage (-10%)",
    13: "no reason (every override says why)",
    14: "8 cells for 7 columns",
    15: "beyond_max 'maybe' is neither yes nor no",
}


@pytest.fixture(scope="module")
def overridden(tmp_path_factory) -> tuple[Path, object, object]:
    out = tmp_path_factory.mktemp("overrides") / "out"
    out.mkdir()
    (out / "overrides.csv").write_text(OVERRIDES, encoding="utf-8")
    first = CliRunner().invoke(grade, [str(EXAMPLES), "--solutions", str(SOLUTIONS), "--out", str(out), *EVERY_FORMAT],
                               env=CLEAN_ENV)
    return out, first, json.loads((out / "results.json").read_text(encoding="utf-8"))


def _rows(document: dict) -> dict[str, dict]:
    return {row["student"]: row for row in document["submissions"]}


def test_every_kind_of_row_applies_in_order_within_0_to_max(overridden):
    """Mechanism: Override.applied (new score, points, percentage of the score; clamped to 0..max unless
    beyond_max is yes), rows of one student applied in the file's order, an ungraded submission given a score."""
    _, first, document = overridden
    assert first.exit_code == 0, first.stderr
    rows = _rows(document)
    original = {student: row["adjustment"]["original_score"] for student, row in rows.items() if row["adjustment"]}
    assert set(original) == {"alice", "chen", "dana", "emeka", "fatima", "gus"}
    expected = {"alice": original["alice"] * 0.9, "chen": min(original["chen"] + 5, 10), "dana": 0, "emeka": 12,
                "fatima": min(original["fatima"] + 1, 10) * 0.5, "gus": 6}
    assert {student: rows[student]["score"] for student in expected} == pytest.approx(expected)
    assert rows["gus"]["status"] == "error" and rows["hana"]["adjustment"] is None
    assert rows["bilal"]["adjustment"] is None  # every bilal row was malformed
    assert rows["fatima"]["adjustment"]["changes"] == [{"change": "+1", "reason": "regrade request"},
                                                       {"change": "-50%", "reason": "late by a week"}]
    assert rows["alice"]["adjustment"]["changes"] == [{"change": "-10%", "reason": "late penalty [TA Kim, 2026-11-20]"}]


def test_bad_rows_are_warnings_naming_their_line(overridden):
    """Mechanism: overrides._parse and Overrides.unmatched: a malformed row, or one naming no submission of the run,
    is one warning naming the file and line; the run goes on and the good rows apply."""
    out, first, _ = overridden
    warnings = [line for line in first.stderr.splitlines() if line.startswith("warning: ")]
    for number, text in WARNINGS.items():
        assert any(f"{out / 'overrides.csv'} line {number}: {text}" in line for line in warnings), (number, warnings)
    assert len([line for line in warnings if "overrides.csv" in line]) == len(WARNINGS)
    assert f"7 override row(s) of {out / 'overrides.csv'} applied" in first.stderr


def test_every_export_shows_the_adjusted_score_and_why(overridden):
    """Mechanism: Grade.adjustment, carried to each writer: the adjusted score everywhere, the original and the
    reason beside it where the format has room (Canvas's import takes the score alone)."""
    out, first, document = overridden
    alice = _rows(document)["alice"]
    score, before = f"{alice['score']:g}", f"{alice['adjustment']['original_score']:g}"
    assert f"alice  {score}/10 (adjusted from {before})  graded" in first.stdout
    with open(out / "gradebook.csv", newline="", encoding="utf-8-sig") as stream:
        gradebook = {row["student"]: row for row in csv.DictReader(stream)}
    assert (gradebook["alice"]["score"], gradebook["alice"]["original_score"]) == (score, before)
    assert gradebook["alice"]["adjustment"] == "late penalty [TA Kim, 2026-11-20] (-10%)"
    assert gradebook["hana"]["original_score"] == gradebook["hana"]["adjustment"] == ""
    with open(out / "canvas.csv", newline="", encoding="utf-8-sig") as stream:
        canvas = {row["Student"]: row for row in csv.DictReader(stream)}
    assert canvas["alice"]["Implementing a Backward Pass"] == score
    page = (out / "report.html").read_text(encoding="utf-8")
    assert f"{score} after override, was {before}: late penalty [TA Kim, 2026-11-20] (-10%)" in page
    # gus, listed apart as not graded:
    assert "6 after override, was 0: graded by hand: the syntax error was a copy slip (6)" in page
    gradescope = json.loads((out / "gradescope" / "alice.json").read_text(encoding="utf-8"))
    assert gradescope["score"] == alice["score"] and gradescope["extra_data"]["original_score"] == alice[
        "adjustment"]["original_score"]
    assert f"Score adjusted from {before}: late penalty [TA Kim, 2026-11-20] (-10%)" in gradescope["output"]
    suite = next(each for each in ET.parse(out / "junit.xml").getroot() if each.get("name") == "alice")
    properties = {each.get("name"): each.get("value") for each in suite.iter("property")}
    assert (properties["score"], properties["original_score"]) == (score, before)
    summary = (out / "summary.md").read_text(encoding="utf-8")
    assert f"| alice | {score}/10 (adjusted from {before}) | graded |" in summary
    assert f"adjusted from {before}" in (out / "annotations.txt").read_text(encoding="utf-8")


def test_overrides_survive_a_regrade_and_the_file_is_never_written(overridden):
    """Mechanism: overrides are applied after the results log and cache (which keep the grades as graded), so a
    resumed or cached regrade reads the instructor's file again: an edited row takes effect, a removed one is
    undone, and the file is left byte for byte as the instructor wrote it."""
    out, _, document = overridden
    assert all('"adjustment":null' in line for line in (out / "results.jsonl").read_text().splitlines())
    assert (out / "overrides.csv").read_text(encoding="utf-8") == OVERRIDES
    edited = "student,change,reason\nemeka,-1,second thoughts\n"
    (out / "overrides.csv").write_text(edited, encoding="utf-8")
    again = invoke_grade(EXAMPLES, "--out", out, json_out=False)
    assert again.exit_code == 0, again.stderr
    assert "; 0 run now, 8 resumed from the results log" in again.stderr
    rows = _rows(json.loads((out / "results.json").read_text(encoding="utf-8")))
    before = _rows(document)
    assert rows["alice"]["adjustment"] is None
    assert rows["alice"]["score"] == before["alice"]["adjustment"]["original_score"]
    assert rows["emeka"]["score"] == before["emeka"]["adjustment"]["original_score"] - 1
    assert (out / "overrides.csv").read_text(encoding="utf-8") == edited


@pytest.mark.parametrize("content, expected", [
    (b"name,points\nalice,3\n", "line 1: the header lacks column(s) student, change, reason"),
    (b"student,change,reason\n\xff\xfe,3,x\n", "not read ("),
    (b"student,change,reason,grade\nalice,3,x,1\n", "line 1: unknown column(s) 'grade' ignored"),
    (b"student,change,reason\nalice,nan,x\nalice,inf,x\nalice,1e3,x\nalice,--1,x\n", "line 5: change '--1'"),
    (b"student,change,reason\n" + b"alice,1,x\n" * 100_000, "is over 1000000 characters"),
    (b"student,change,reason\nalice,1," + b"x" * 300_000 + b"\n", "line 2: not read as CSV"),
    (b"student,change,reason\nalice,10%,x\n", "line 2: change '10%': a percentage needs a sign"),
])
def test_an_unusable_file_or_row_is_a_warning_never_a_crash(tmp_path, content, expected):
    """Mechanism: overrides.read never raises for what the file holds (a wrong header, bytes that are not UTF-8,
    a number that is not a plain decimal, a cell the csv module refuses, an unsigned percentage, a file
    far too large to be one): each is a warning naming the file."""
    path = tmp_path / "overrides.csv"
    path.write_bytes(content)
    book = overrides.read(path)
    assert any(expected in warning and str(path) in warning for warning in book.warnings), book.warnings
    assert all(row.change.replace(".", "").lstrip("+-").rstrip("%").isdigit() for row in book.rows)
    directory = overrides.read(tmp_path)  # a folder where the file should be
    assert len(directory.warnings) == 1 and not directory.rows
