"""The class report page (report.html) as an instructor reads it: in a real browser, on a laptop's screen.

The example class is graded through the real `grade` command; the page is then rendered by headless
Chromium at 1280 and 1920 px. Chromium is required, never skipped: .ci/run installs it.
"""

from __future__ import annotations

import html
import json
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from tests.conftest import invoke_grade
from tests.notebooks import REPO
from tests.scale_support import grade

EXAMPLES = REPO / "examples" / "submissions"
WIDTHS = (1280, 1920)
_POLICY_TAG = re.compile(r'<meta http-equiv="Content-Security-Policy" content="[^"]*">')
# Appended to a test-only copy of the page: measures the layout and leaves the result in the DOM, for --dump-dom.
# A score ("10 / 10") or a step's mark ("✓ 2") wraps when its text lies on more than one line box.
_MEASURE = """<script>
const root = document.documentElement;
const lines = cell => { const range = document.createRange(); range.selectNodeContents(cell);
  return new Set([...range.getClientRects()].map(rect => Math.round(rect.top))).size; };
const number = /^\\s*(\\d+(\\.\\d+)?\\s*\\/\\s*\\d+|[✓✗–])/;
const numbers = [...document.querySelectorAll("td")].filter(cell => number.test(cell.textContent));
const tables = [...document.querySelectorAll("table")].map(table => table.getBoundingClientRect().right);
document.body.setAttribute("data-layout", JSON.stringify({
  viewport: window.innerWidth, client: root.clientWidth, scroll: root.scrollWidth,
  tables_right: Math.max(0, ...tables), numbers: numbers.length,
  wrapped: numbers.filter(cell => lines(cell) > 1).map(cell => cell.textContent.trim()),
}));
</script>"""


def _chromium() -> str:
    found = shutil.which("chromium")
    if found is None:
        pytest.fail("chromium is not installed: install Debian's chromium (apt-get install -y chromium), as .ci/run does")
    return found


def _browser(chromium: str, profile: Path, width: int, *action: str) -> list[str]:
    return [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync",
            f"--user-data-dir={profile}", f"--window-size={width},1000", *action]


def _render(chromium: str, page: Path, work: Path) -> tuple[dict[int, dict], dict[int, Path]]:
    """(layout measured, screenshot) per width: one Chromium run per width, both at once, each in its own profile.

    Chromium loads a copy of the page that differs only by the measuring script appended and the page's policy
    left out (it would block that script); the copy sits beside the page, so its relative links stay right.
    """
    measured_copy = page.with_name("report-measured.html")
    text = page.read_text(encoding="utf-8")
    measured_copy.write_text(_POLICY_TAG.sub("", text).replace("</body>", _MEASURE + "</body>"), encoding="utf-8")
    shots = {width: work / f"report-{width}.png" for width in WIDTHS}
    runs = {width: subprocess.Popen(_browser(chromium, Path(tempfile.mkdtemp(dir=work)), width, "--dump-dom",
                                             f"--screenshot={shots[width]}", measured_copy.as_uri()),
                                    stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
            for width in WIDTHS}
    layouts = {}
    for width, run in runs.items():
        out, _ = run.communicate(timeout=60)
        assert run.returncode == 0, f"chromium at {width} px exited with {run.returncode}"
        found = re.search(r'data-layout="([^"]*)"', out)
        assert found, f"the measuring script did not run at {width} px"
        layouts[width] = json.loads(html.unescape(found[1]))
    return layouts, shots


def _png_size(path: Path) -> tuple[int, int]:
    head = path.read_bytes()[:24]
    assert head[:8] == b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG"
    return int.from_bytes(head[16:20], "big"), int.from_bytes(head[20:24], "big")


@pytest.fixture(scope="module")
def example_reports(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("example-class") / "out"
    run = invoke_grade(EXAMPLES, "-q", "--out", out, "--feedback-html", json_out=False)
    assert run.exit_code == 0, run.stderr
    return out


def test_the_example_class_report_fits_a_laptop_screen_in_chromium(example_reports):
    """The page's layout (responsive table, nowrap scores and marks, charts in a grid) holds in a real browser:
    at 1280 and 1920 px nothing overflows the window sideways and no score or mark wraps. The screenshots stay
    in the test's folder as artefacts."""
    chromium = _chromium()
    layouts, shots = _render(chromium, example_reports / "report.html", example_reports.parent)
    for width in WIDTHS:
        layout = layouts[width]
        assert layout["viewport"] == width, layout
        assert layout["scroll"] <= layout["client"], f"the page overflows sideways at {width} px: {layout}"
        assert layout["tables_right"] <= layout["client"], f"a table runs off-screen at {width} px: {layout}"
        # 6 graded students x (score + 6 steps): every one measured, none wrapped.
        assert layout["numbers"] >= 6 * 7 and layout["wrapped"] == [], f"at {width} px: {layout}"
        assert _png_size(shots[width]) == (width, 1000)


def _grade_class(folder: Path, out: Path, *extra: str):
    run = grade(str(folder), "--no-cache", "--out", str(out), *extra)
    assert run.exit_code == 0, run.output
    return run


def _sections(page: str) -> tuple[str, str]:
    """(graded table, not-graded section) of a report."""
    graded, _, apart = page.partition('id="not-graded"')
    return graded, apart


def test_files_that_could_not_be_graded_are_listed_apart_and_never_counted_as_graded(tmp_path):
    """The summary counts only `graded` submissions in the scores, the steps' pass rates and the totals: an
    invalid file (bad JSON, an empty file) and a notebook that cannot run (error) are listed apart with
    their reason, in the page and in the terminal's summary, whatever else the class holds. Without
    --feedback-html the page links to no feedback page."""
    folder = tmp_path / "class"
    shutil.copytree(EXAMPLES, folder)
    (folder / "ivan").mkdir()
    (folder / "ivan" / "backward_pass.ipynb").write_bytes(b"")
    run = _grade_class(folder, tmp_path / "out")
    assert "Summary: 9 submissions: 6 graded (mean 8.83/10, median 9/10, 2 with full marks); " \
           "not graded: 1 error, 2 invalid" in run.stdout
    assert "scores of the graded: 70-79 % 1  80-89 % 1  90-99 % 2  100 % 2" in run.stdout
    assert "hidden_error 100%" in run.stdout and "0-9 %" not in run.stdout
    page = (tmp_path / "out" / "report.html").read_text(encoding="utf-8")
    graded, apart = _sections(page)
    assert "<h2>Graded (6)</h2>" in graded and "Not graded (3)" in apart
    for student in ("gus", "hana", "ivan"):
        assert f'"who">{student}<' in apart and f'"who">{student}<' not in graded
    assert apart.count('class="status">invalid<') == 2 and apart.count('class="status">error<') == 1
    assert "is not valid JSON" in apart and "SyntaxError" in apart
    assert "<a href=" not in graded.partition("<h2>")[2]  # no feedback pages written, no links to them
    # The score chart counts the 6 graded only: no bar at 0-9 %.
    assert re.search(r">0-9 %</text><rect [^>]*width=\"0.0\"[^>]*/><text [^>]*>0</text>", graded)


def test_mistakes_have_human_names_with_counts_and_messages_are_on_the_page(example_reports):
    """Mistakes are named in words (the catalogue id as words, never the snake_case id) with how many students
    made each, and each wrong step's message is written in the row, not hidden in a tooltip."""
    page = (example_reports / "report.html").read_text(encoding="utf-8")
    for title, step in (("Error sign flipped", "error"), ("Outer product transposed", "delta_w_i_h"),
                        ("Learnrate missing hidden to output", "delta_w_h_o")):
        assert re.search(rf"<tr><td>{title}</td><td>{step.replace('_', '_<wbr>')}</td><td class=\"n\">1</td></tr>", page)
        assert f"<li>{title}</li>" in page
    assert "error_sign_flipped" not in page and "outer_product_transposed" not in page
    assert " title=" not in page
    assert "<li><b>error</b>: public case: error differs from the expected value" in page


def _links(out: Path, report: str, folder: str) -> list[str]:
    """The students' links of a report, each checked to open that student's own feedback page."""
    page = (out / report).read_text(encoding="utf-8")
    links = re.findall(r'<td class="who"><a href="([^"]*)">([^<]*)</a>', page)
    for href, student in links:
        target = out / html.unescape(href)
        assert href.startswith(f"{folder}/") and target.is_file(), href
        assert f"<title>Feedback: {student}</title>" in target.read_text(encoding="utf-8")
    assert len({href for href, _ in links}) == len(links)
    return [href for href, _ in links]


def test_students_link_to_their_feedback_pages_when_written(tmp_path):
    """With --feedback-html every student (graded or not) links to their own page, by the name the page was
    written under: two notebooks of one student, a name with markup and quotes, and in a run over several
    assignments, each report into its assignment's folder of pages."""
    folder = tmp_path / "class"
    shutil.copytree(EXAMPLES, folder / "backward")
    shutil.copytree(REPO / "examples" / "forward_pass", folder / "forward")
    shutil.copy(EXAMPLES / "alice" / "backward_pass.ipynb", folder / "backward" / "alice.ipynb")
    hostile = folder / "backward" / '<i>x&"q' / "backward_pass.ipynb"
    hostile.parent.mkdir()
    shutil.copy(EXAMPLES / "chen" / "backward_pass.ipynb", hostile)
    _grade_class(folder, tmp_path / "out", "--feedback-html")
    assert len(_links(tmp_path / "out", "report-backward_pass.html", "feedback/backward_pass")) == 10
    assert len(_links(tmp_path / "out", "report-forward_pass.html", "feedback/forward_pass")) == 6
    page = (tmp_path / "out" / "report-backward_pass.html").read_text(encoding="utf-8")
    assert "&lt;i&gt;x&amp;&quot;q" in page and "<i>x" not in page


def test_the_page_is_self_contained(example_reports):
    """No script, nothing fetched (inline CSS and SVG only), and a policy that forbids both; links only to the
    feedback pages, relative."""
    page = (example_reports / "report.html").read_text(encoding="utf-8")
    assert len(_links(example_reports, "report.html", "feedback")) == 8
    assert "<script" not in page and "@import" not in page and "url(" not in page
    assert not re.search(r"(src|href)=\"[a-z]+:", page)
    assert "default-src 'none'" in _POLICY_TAG.search(page)[0] and "<svg" in page
