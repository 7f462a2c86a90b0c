"""The report formats of `grade --out DIR --format ...`, rendered from one graded class."""

from __future__ import annotations

import csv
import json
import xml.etree.ElementTree as ET

import pytest

from tests.exports_support import check_gradescope_document, run_grade, write_class
from tests.notebooks import student_notebook, write

STEPS = ["error", "output_error_term", "hidden_error", "hidden_error_term", "delta_w_h_o", "delta_w_i_h"]
ALL_FORMATS = ["--format", "json", "--format", "csv", "--format", "gradescope", "--format", "junit",
               "--format", "github-summary"]


@pytest.fixture
def reports(tmp_path):
    out = tmp_path / "reports"
    result = run_grade(str(write_class(tmp_path / "submissions")), "--out", str(out), *ALL_FORMATS)
    assert result.exit_code == 0, result.output
    return out


def test_default_formats_are_json_csv_and_the_class_report(tmp_path):
    notebook = write(student_notebook(), tmp_path / "alice.ipynb")
    out = tmp_path / "out"
    assert run_grade(str(notebook), "--out", str(out), "--no-cache").exit_code == 0
    assert sorted(path.name for path in out.iterdir()) == ["gradebook.csv", "report.html", "results.json", "results.jsonl"]


def test_one_format_writes_only_its_file(tmp_path):
    notebook = write(student_notebook(), tmp_path / "alice.ipynb")
    out = tmp_path / "out"
    assert run_grade(str(notebook), "--out", str(out), "--format", "junit", "--no-cache").exit_code == 0
    assert sorted(path.name for path in out.iterdir()) == ["junit.xml", "results.jsonl"]  # the report and the log


def test_unknown_format_is_a_usage_error(tmp_path):
    notebook = write(student_notebook(), tmp_path / "alice.ipynb")
    assert run_grade(str(notebook), "--out", str(tmp_path / "out"), "--format", "pdf").exit_code == 2


def test_gradescope_results_follow_the_spec(reports):
    names = sorted(path.name for path in (reports / "gradescope").iterdir())
    assert names == ["alice.json", "bob.json", "carol.json"]
    documents = {name: json.loads((reports / "gradescope" / name).read_text()) for name in names}
    for document in documents.values():
        check_gradescope_document(document)
    alice, bob, carol = documents["alice.json"], documents["bob.json"], documents["carol.json"]
    assert alice["score"] == 10.0 and [t["name"] for t in alice["tests"]] == STEPS
    assert all(test["status"] == "passed" for test in alice["tests"])
    assert bob["score"] == 9.0 and carol["score"] == 0.0
    assert sum(test["max_score"] for test in bob["tests"]) == 10.0


def test_gradescope_holds_hidden_case_details_back(reports):
    bob = json.loads((reports / "gradescope" / "bob.json").read_text())
    visible = [test for test in bob["tests"] if test["visibility"] == "visible"]
    held_back = [test for test in bob["tests"] if test["visibility"] != "visible"]
    assert [test["name"] for test in visible] == STEPS
    assert [test["name"] for test in held_back] == ["delta_w_i_h: hidden cases"]
    assert held_back[0]["visibility"] == "after_due_date" and held_back[0]["max_score"] == 0.0
    assert "hidden cases" in held_back[0]["output"]
    assert not any("hidden cases" in test["output"] for test in visible)
    assert "hidden cases" not in bob["output"]
    # The public case's values may be shown (the course publishes them); they are, for the first wrong step.
    assert "expected (public case)" in visible[-1]["output"]


def test_junit_counts_and_failures(reports):
    root = ET.parse(reports / "junit.xml").getroot()
    assert root.tag == "testsuites"
    suites = {suite.get("name"): suite for suite in root.findall("testsuite")}
    assert list(suites) == ["alice", "bob", "carol"]
    for suite in suites.values():
        cases = suite.findall("testcase")
        assert int(suite.get("tests")) == len(cases) == 6
        assert int(suite.get("failures")) == len(suite.findall("testcase/failure"))
        assert int(suite.get("errors")) == len(suite.findall("testcase/error"))
        assert int(suite.get("skipped")) == 0
    assert suites["alice"].get("failures") == "0"
    assert suites["bob"].get("failures") == "1"
    failure = suites["bob"].find("testcase[@name='step delta_w_i_h']/failure")
    assert "should have shape (3, 2)" in failure.get("message")
    assert suites["carol"].get("failures") == "6"
    assert int(root.get("tests")) == 18 and int(root.get("failures")) == 7 and root.get("errors") == "0"
    properties = {p.get("name"): p.get("value") for p in suites["bob"].findall("properties/property")}
    assert properties["score"] == "9" and properties["max_score"] == "10" and properties["status"] == "graded"


def test_junit_errors_for_a_notebook_that_cannot_run(tmp_path):
    broken = write(student_notebook("return (\n"), tmp_path / "dan.ipynb")
    out = tmp_path / "out"
    assert run_grade(str(broken), "--out", str(out), "--format", "junit").exit_code == 0
    suite = ET.parse(out / "junit.xml").getroot().find("testsuite")
    assert suite.get("errors") == "6" and suite.get("failures") == "0"
    assert "not judged" in suite.find("testcase/error").get("message")


def test_junit_escapes_student_text(tmp_path):
    body = 'raise ValueError("<b>&amp;</b> \\"quoted\\" \\x1b[31m \\x00 ]]> <![CDATA[ \\x07 end")'
    out = tmp_path / "out"
    notebook = write(student_notebook(body), tmp_path / "eve.ipynb")
    assert run_grade(str(notebook), "--out", str(out), "--format", "junit").exit_code == 0
    root = ET.parse(out / "junit.xml").getroot()  # parses: nothing unescaped, no character XML forbids
    output = root.find("testsuite/system-out").text
    assert '<b>&amp;</b> "quoted"' in output
    assert "<![CDATA[" in output and "\ufffd" in output


def test_junit_replaces_exactly_the_characters_xml_forbids():
    """report.junit: every code point outside XML 1.0's Char production (#x9 | #xA | #xD | [#x20-#xD7FF] |
    [#xE000-#xFFFD] | [#x10000-#x10FFFF]) is replaced, and no other."""
    from grader.report import junit

    def allowed(point: int) -> bool:
        return point in (0x9, 0xA, 0xD) or 0x20 <= point <= 0xD7FF or 0xE000 <= point <= 0xFFFD or point >= 0x10000

    everything = "".join(map(chr, range(0x110000)))
    replaced = junit._xml_text(everything)
    assert len(replaced) == len(everything)
    assert [point for point in range(0x110000) if replaced[point] != everything[point]] == \
        [point for point in range(0x110000) if not allowed(point)]


def test_gradebook_columns(reports):
    rows = list(csv.reader((reports / "gradebook.csv").read_text(encoding="utf-8-sig").splitlines()))
    assert rows[0] == ["student", "submission", "assignment", "status", "score", "max_score", *STEPS,
                       "original_score", "adjustment"]
    by_student = {row[0]: dict(zip(rows[0], row)) for row in rows[1:]}
    assert by_student["alice"]["score"] == "10" and by_student["alice"]["max_score"] == "10"
    assert by_student["bob"]["delta_w_i_h"] == "0" and by_student["bob"]["delta_w_h_o"] == "2"


def test_json_report_is_unchanged_in_shape(reports):
    document = json.loads((reports / "results.json").read_text())
    assert set(document) == {"grader_version", "assignment", "max_score", "submissions"}
    assert [s["student"] for s in document["submissions"]] == ["alice", "bob", "carol"]


def test_github_summary_file(reports):
    text = (reports / "summary.md").read_text()
    assert text.startswith("## Implementing a Backward Pass: grades")
    assert "| alice | 10/10 | graded |" in text
    assert "<summary>bob: 9/10" in text and "alice: 10/10" not in text
