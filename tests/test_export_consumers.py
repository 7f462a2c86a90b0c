"""Each export checked against what its consumer reads: the JUnit schema Jenkins and pytest follow,
Gradescope's results.json, GitHub's job-summary Markdown, Excel and Canvas's gradebook import.

Everything runs the real `grade` command on real notebooks: the example class in examples/ and
notebooks written with nbformat whose code says hostile things.
"""

from __future__ import annotations

import csv
import html
import json
import os
import re
import shutil
import stat
from pathlib import Path

import pytest
from lxml import etree

from grader.report import formats, github
from tests import unprivileged
from tests.exports_support import NO_OUTER, check_gradescope_document, run_grade, write_class
from tests.notebooks import REPO, student_notebook, write

JUNIT_SCHEMA = etree.XMLSchema(etree.parse(str(Path(__file__).parent / "data" / "junit-10.xsd")))
EXAMPLES = REPO / "examples" / "submissions"
EVERY_FORMAT = [argument for name in formats.NAMES for argument in ("--format", name)]

# Student text that a consumer could misread: markup, links of every kind GitHub makes from plain
# text (scheme, www., e-mail, @-mention) and a message long enough to be shortened.
MARKUP = "<i>2</i> & <b>x</b>"
LINKS = ("https://evil.example/a_b", "http://evil.example", "ftp://evil.example", "www.evil.example",
         "mallory@evil.example", "@octocat")
LONG = " ".join(f"word{number:03d}" for number in range(400))
HOSTILE_BODY = f'raise ValueError({MARKUP + " " + " ".join(LINKS) + " " + LONG!r})'


@pytest.fixture(scope="module")
def example_reports(tmp_path_factory) -> Path:
    """Every format, written once for the example class (eight students, right, wrong and broken notebooks)."""
    out = tmp_path_factory.mktemp("examples") / "out"
    result = run_grade(str(EXAMPLES), "--out", str(out), *EVERY_FORMAT)
    assert result.exit_code == 0, result.output
    return out


@pytest.fixture(scope="module")
def hostile_reports(tmp_path_factory) -> Path:
    """Every format for a class with hostile messages, markup in a folder name and non-ASCII names."""
    root = tmp_path_factory.mktemp("hostile")
    submissions = write_class(root / "submissions")
    write(student_notebook(HOSTILE_BODY), submissions / "mallory_x" / "backward_pass.ipynb")
    write(student_notebook(NO_OUTER), submissions / "a&b<i>c" / "backward_pass.ipynb")
    write(student_notebook(), submissions / "Zoë Łukasiewicz" / "backward_pass.ipynb")
    write(student_notebook(), submissions / "李华" / "backward_pass.ipynb")
    out = root / "out"
    result = run_grade(str(submissions), "--out", str(out), *EVERY_FORMAT)
    assert result.exit_code == 0, result.output
    return out


@pytest.mark.parametrize("reports", ["example_reports", "hostile_reports"])
def test_junit_is_valid_against_the_jenkins_schema(reports, request):
    """junit.xml validates against junit-10.xsd (no `skipped` on <testsuites>), names each test case `step <name>`
    so a step called `error` is not read as a status, and times each suite with the submission's real seconds."""
    out = request.getfixturevalue(reports)
    document = etree.parse(str(out / "junit.xml"))
    assert JUNIT_SCHEMA.validate(document), JUNIT_SCHEMA.error_log
    root = document.getroot()
    assert "skipped" not in root.attrib
    # Gradescope's execution_time is the same measure, the submission's wall-clock seconds.
    seconds = sorted(json.loads(path.read_text())["execution_time"] for path in (out / "gradescope").glob("*.json"))
    for suite in root.iter("testsuite"):
        names = [case.get("name") for case in suite.iter("testcase")]
        assert names and all(name.startswith("step ") for name in names)
        assert "step error" in names and "error" not in names
        status = suite.find("properties/property[@name='status']").get("value")
        assert status in {"graded", "error", "timeout", "invalid"}
    times = sorted(float(suite.get("time")) for suite in root.iter("testsuite"))
    # Real seconds, not a constant: a run's notebooks took some time, and each suite says its own.
    assert max(times) > 0
    assert times == pytest.approx(seconds, abs=1e-3)
    assert float(root.get("time")) == pytest.approx(sum(seconds), abs=0.01)


def test_junit_of_a_run_over_several_assignments_is_valid(tmp_path):
    """Each junit-<assignment>.xml of a mixed run validates too."""
    submissions = tmp_path / "submissions"
    shutil.copytree(EXAMPLES / "alice", submissions / "alice")
    forward = next((REPO / "examples" / "forward_pass").rglob("*.ipynb"))
    shutil.copy(forward, submissions / "bob.ipynb")
    out = tmp_path / "out"
    result = run_grade(str(submissions), "--out", str(out), "--format", "junit")
    assert result.exit_code == 0, result.output
    written = sorted(out.glob("junit*.xml"))
    assert len(written) >= 1
    for path in written:
        assert JUNIT_SCHEMA.validate(etree.parse(str(path))), (path.name, JUNIT_SCHEMA.error_log)


@pytest.mark.parametrize("reports", ["example_reports", "hostile_reports"])
def test_gradescope_output_is_plain_text(reports, request):
    """Every results.json says `output_format: text` for itself and each test, so Gradescope shows student code
    such as `<i>2</i>` as written instead of rendering it as HTML; the documents keep to the spec."""
    out = request.getfixturevalue(reports)
    documents = [json.loads(path.read_text()) for path in sorted((out / "gradescope").glob("*.json"))]
    assert documents
    for document in documents:
        check_gradescope_document(document)
        assert document["output_format"] == document["test_output_format"] == "text"
        assert all(test["output_format"] == "text" for test in document["tests"])


def test_gradescope_shows_markup_literally_and_the_total_in_the_overview(hostile_reports):
    """The hostile message reaches the student verbatim (plain text, nothing escaped twice); when hidden-case
    details hold a test back, Gradescope hides the total, so the always-visible overview states it."""
    mallory = json.loads((hostile_reports / "gradescope" / "mallory_x.json").read_text())
    assert MARKUP in mallory["output"] or any(MARKUP in test["output"] for test in mallory["tests"])
    assert "&lt;" not in json.dumps(mallory)
    for name in ("bob.json", "mallory_x.json", "alice.json"):
        document = json.loads((hostile_reports / "gradescope" / name).read_text())
        assert document["output"].startswith(f"Score: {document['score']:g}/")


def _summary_lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.startswith("<summary>")]


def test_summary_lines_are_escaped_html_not_markdown(example_reports, hostile_reports):
    """The <summary> lines sit in an HTML block: paths keep their underscores (no Markdown `\\_`), and markup
    in a folder name is HTML-escaped."""
    lines = _summary_lines((example_reports / "summary.md").read_text())
    assert any("chen/backward_pass.ipynb" in line for line in lines), lines
    assert not any("\\" in line for line in lines)
    hostile = _summary_lines((hostile_reports / "summary.md").read_text())
    assert any(f"{html.escape('a&b<i>c')}: " in line for line in hostile), hostile
    assert not any("<i>" in line or "\\" in line for line in hostile)


def test_summary_keeps_whole_messages_and_makes_no_links(hostile_reports):
    """A message as long as the grader keeps reaches the summary whole (a list item is not cut at the table's
    cell width); URLs, www., e-mail addresses and @-mentions in student text are defused so GitHub's Markdown
    links none of them, and markup shows as text."""
    text = (hostile_reports / "summary.md").read_text()
    report = json.loads((hostile_reports / "results.json").read_text())
    mallory = next(entry for entry in report["submissions"] if entry["student"] == "mallory_x")
    items = [line for line in text.splitlines() if line.startswith("- ") and "word000" in line]
    assert items
    long_messages = [message for message in mallory["messages"] if "word000" in message]
    assert long_messages
    for message in long_messages:
        tail = message.split()[-1]
        assert any(item.replace("\\", "").endswith(tail) for item in items), (tail, items)
    for link in ("://", "www.", "@evil", "@octocat"):
        assert link not in text, link
    assert "&lt;i&gt;2&lt;/i&gt;" in text


@pytest.mark.parametrize("text", [LONG, "x" * 50 + " " + "y" * 400, "one two", "a " * 700, "é" * 1200])
@pytest.mark.parametrize("limit", [20, 300, 1000])
def test_shortening_never_cuts_inside_a_word(text, limit):
    """Text longer than the limit is cut at a space with an ellipsis: every word kept is whole; a single token
    longer than the limit (no space to cut at) is the one case cut where it must be."""
    short = github.shortened(text, limit)
    assert len(short) <= limit
    words = text.split()
    if short == " ".join(words):
        return
    assert short.endswith("…")
    kept = short[:-1].split()
    if len(words[0]) >= limit:
        assert len(kept) == 1 and words[0].startswith(kept[0])
    else:
        assert kept == words[: len(kept)]


@pytest.mark.parametrize("link", ["see https://evil.example", "HTTP://EVIL.EXAMPLE", "ssh://x", "WWW.evil.example",
                                  "a.b@evil.example", "cc @team", "mailto:x@y.z"])
def test_markdown_defuses_every_kind_of_link(link):
    """Each kind of text GitHub's Markdown autolinks comes out with an invisible break that no link survives."""
    flat = github.markdown(link).replace("\\", "")
    assert flat.replace("\u200b", "") == link
    assert not re.search(r"://|www\.|@\w", flat, re.IGNORECASE)


def test_gradebook_has_a_byte_order_mark_for_excel(hostile_reports):
    """gradebook.csv starts with the UTF-8 BOM, so Excel reads non-ASCII names; the rows read back intact."""
    raw = (hostile_reports / "gradebook.csv").read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")
    rows = list(csv.DictReader(raw.decode("utf-8-sig").splitlines()))
    assert {"Zoë Łukasiewicz", "李华", "a&b<i>c"} <= {row["student"] for row in rows}


def test_canvas_csv_has_the_columns_canvas_imports(hostile_reports):
    """canvas.csv: Canvas's student columns, one column per assignment titled as the assignment, the
    Points Possible row, one row per student with the score, SIS User ID set to the student id."""
    raw = (hostile_reports / "canvas.csv").read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(raw.decode("utf-8-sig").splitlines()))
    assert rows[0] == ["Student", "ID", "SIS User ID", "SIS Login ID", "Section", "Implementing a Backward Pass"]
    assert rows[1] == ["Points Possible", "", "", "", "", "10"]
    by_student = {row[0]: row for row in rows[2:]}
    assert set(by_student) == {"alice", "bob", "carol", "mallory_x", "a&b<i>c", "Zoë Łukasiewicz", "李华"}
    assert by_student["bob"] == ["bob", "", "bob", "", "", "9"]
    assert by_student["alice"][5] == "10" and by_student["carol"][5] == "0" and by_student["a&b<i>c"][5] == "9"


@pytest.mark.parametrize("chosen", [["csv"], ["json"], ["canvas", "junit"]])
def test_format_without_out_is_a_usage_error(tmp_path, chosen, monkeypatch):
    """--format names files inside --out: without --out it is exit 2 with a one-line reason, and nothing is graded."""
    notebook = write(student_notebook(), tmp_path / "alice.ipynb")
    monkeypatch.chdir(tmp_path)
    result = run_grade(str(notebook), *[argument for name in chosen for argument in ("--format", name)])
    assert result.exit_code == 2
    assert "--out" in result.output and "Traceback" not in result.output
    assert sorted(path.name for path in tmp_path.iterdir()) == ["alice.ipynb"]


def test_format_help_comes_from_the_registry():
    """`grade --help` lists every registered format with its one-line description, and --format accepts exactly them."""
    result = run_grade("--help")
    flat = "".join(result.output.split())  # click wraps lines, at spaces and after hyphens
    for format_ in formats.REGISTRY.values():
        assert "".join(f"{format_.name}: {format_.description}".split()) in flat
    assert set(formats.NAMES) == {"json", "csv", "html", "gradescope", "junit", "github-summary", "github-annotations",
                                  "canvas"}


def test_report_files_are_private_under_a_permissive_umask(tmp_path):
    """Every file of every format is created by mkstemp (mode 0600) and renamed into place, and the results log
    and the content cache are opened with mode 0600 (store._private), so under umask 022 no other user can read
    a class's grades: they are the instructor's until shared on purpose. A log left 0644 by an older version is
    narrowed when the next run opens it, and the log rewritten (keep_only) is created 0600 too."""
    notebook = write(student_notebook(NO_OUTER), tmp_path / "alice.ipynb")
    other = write(student_notebook(NO_OUTER), tmp_path / "bob.ipynb")
    out = tmp_path / "out"
    previous = os.umask(0o022)
    try:
        result = run_grade(str(notebook), str(other), "--out", str(out), *EVERY_FORMAT)
        assert result.exit_code == 0, result.output
        (out / "results.jsonl").chmod(0o644)
        # bob left out: the log is rewritten without his line, through a new file.
        again = run_grade(str(notebook), "--out", str(out), *EVERY_FORMAT)
    finally:
        os.umask(previous)
    assert again.exit_code == 0, again.output
    written = [path for path in out.rglob("*") if path.is_file()]
    assert {path.name for path in written} >= {"results.json", "gradebook.csv", "report.html", "alice.json", "junit.xml",
                                                "summary.md", "annotations.txt", "canvas.csv", "results.jsonl",
                                                "grades.jsonl"}
    assert {path.name: stat.S_IMODE(path.stat().st_mode) for path in written} == {path.name: 0o600 for path in written}
    assert len((out / "results.jsonl").read_text().splitlines()) == 1


def test_report_files_are_private_unprivileged():
    """The same as uid 65534, where no capability could mask a mode."""
    result = unprivileged.run_unprivileged(f"{Path(__file__)}::test_report_files_are_private_under_a_permissive_umask")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "1 passed" in result.stdout
