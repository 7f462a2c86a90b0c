"""The notebook's LaTeX on feedback pages as MathML (grader/report/mathml.py): legible offline, nothing loaded."""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from grader.report import mathml
from tests.conftest import invoke_grade

REPO = Path(__file__).resolve().parents[1]
ALICE = REPO / "examples" / "submissions" / "alice" / "backward_pass.ipynb"
# Measures, in the browser, that each fraction's numerator sits above its denominator (MathML laid out as math,
# not as inline text) and writes the result into the DOM that --dump-dom prints.
_MEASURE = """<script>
const fractions = [...document.querySelectorAll('mfrac')];
const stacked = fractions.filter(f => f.children[0].getBoundingClientRect().bottom
                                      <= f.children[1].getBoundingClientRect().top + 1).length;
const display = getComputedStyle(document.querySelector('math')).display;
document.body.setAttribute('data-math', JSON.stringify({fractions: fractions.length, stacked, display}));
</script>"""


@pytest.fixture(scope="module")
def page(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("math") / "out"
    run = invoke_grade(ALICE, "--out", out, "--feedback-html", json_out=False)
    assert run.exit_code == 0, run.stderr
    return out / "feedback" / "alice.html"


def test_a_real_notebooks_formulas_become_mathml(page):
    """Mechanism: mathml.render on each markdown cell's cleaned HTML: the example notebook's $...$ formulas
    (fractions, hats, Greek letters, scripts, sums) are MathML elements, and none of them is left as LaTeX."""
    text = page.read_text(encoding="utf-8")
    assert len(re.findall(r"<math[ >]", text)) >= 5
    for element in ("<mfrac>", '<mover accent="true">', "<mi>δ</mi>", "<msub>", "<msup>"):
        assert element in text, element
    prose = re.sub(r"<(code|pre)\b.*?</\1>|<div class=\"cell code\">.*?</div>", "", text, flags=re.DOTALL)
    assert "\\frac" not in prose and "\\hat" not in prose and "\\delta" not in prose
    assert not re.search(r"\$[^$<]+\$", re.sub(r"<math.*?</math>", "", prose, flags=re.DOTALL))
    assert "<script" not in text and "http" not in re.sub(r"<math.*?</math>", "", text)


def test_chromium_lays_the_formulas_out_as_math(page, tmp_path):
    """The MathML is rendered natively, offline: in headless Chromium every fraction stacks its numerator over
    its denominator. A screenshot stays beside the page (math.png) to look at."""
    chromium = shutil.which("chromium")
    if chromium is None:
        pytest.fail("chromium is not installed: install Debian's chromium (apt-get install -y chromium), as .ci/run does")
    measured = page.with_name("alice-measured.html")
    measured.write_text(page.read_text(encoding="utf-8").replace("</body>", _MEASURE + "</body>"), encoding="utf-8")
    shot = page.with_name("math.png")
    command = [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
               "--disable-background-networking", "--disable-component-update", "--disable-sync",
               f"--user-data-dir={tempfile.mkdtemp(dir=tmp_path)}", "--window-size=1000,1400", "--dump-dom",
               f"--screenshot={shot}", measured.as_uri()]
    run = subprocess.run(command, capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr[-2000:]
    found = re.search(r'data-math="([^"]*)"', run.stdout)
    assert found, "the measuring script did not run"
    result = found[1].replace("&quot;", '"')
    fractions = int(re.search(r'"fractions":(\d+)', result)[1])
    assert fractions >= 1 and f'"stacked":{fractions}' in result, result
    assert '"display":"math"' in result or '"display":"inline math"' in result, result
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize("latex", [
    r"\text{</math><script>alert(1)</script>}",
    r"\mathrm{x<y>\"'&}",
    r"a<b \cdot \frac{<}{>}",
])
def test_formula_text_is_escaped(latex):
    """Mechanism: every text the converter emits goes through html.escape; its tags are fixed names."""
    converted = mathml.formula(latex)
    assert converted is not None
    assert "<script" not in converted and "</math><" not in converted[:-7]
    assert set(re.findall(r"</?([a-z]+)", converted)) <= {"math", "mrow", "mi", "mn", "mo", "mtext", "mfrac", "msup",
                                                          "msub", "msubsup", "mover", "mspace", "mstyle"}


@pytest.mark.parametrize("latex", [r"\begin{pmatrix}a\end{pmatrix}", r"a \\ b", r"\unknowncommand x", r"x^", "{x",
                                   "x}", r"\left( x", r"\frac{1}", r"x^1^2", r"\sqrt[3 x", "{" * 40 + "}" * 40,
                                   r"\frac" * 400 + "x"])
def test_what_it_does_not_know_stays_escaped_source(latex):
    """Mechanism: _Unknown anywhere in a formula (unknown command, environment, unbalanced group, too deep) leaves
    the whole formula as its escaped source, never as half-converted math or an exception."""
    assert mathml.formula(latex) is None
    source = "&lt;" + latex.replace("&", "&amp;").replace("<", "&lt;")
    assert mathml.render(f"<p>${source}$</p>") == f"<p>${source}$</p>"


@pytest.mark.parametrize("hostile", ["$" * 200_000, "$$a" * 66_000, "\\$" * 100_000, "$x$ " * 50_000,
                                     "$" + "{" * 100_000 + "$", "$" + r"\frac" * 40_000 + "$", "$$" + "x^{" * 60_000])
def test_hostile_text_stays_linear(hostile):
    """Mechanism: each closing delimiter is sought once and a missing one ends its search for good; a formula is
    tokenised once and cut at MAX_FORMULA characters or MAX_DEPTH groups: 200,000 characters (a page's whole
    budget) convert in well under a second, with output a bounded multiple of the input; past MAX_FORMULAS in one
    cell, formulas stay source."""
    started = time.perf_counter()
    converted = mathml.render(f"<p>{hostile}</p>")
    assert time.perf_counter() - started < 1.0
    assert len(converted) <= 12 * len(hostile) + 100


def test_code_and_pre_keep_their_dollars():
    """Mechanism: render skips the text inside <code> and <pre>, where a dollar sign is code, not math."""
    fragment = "<p>see <code>price = $x$</code></p><pre>$\\frac{1}{2}$</pre><p>$x$</p>"
    assert mathml.render(fragment) == ("<p>see <code>price = $x$</code></p><pre>$\\frac{1}{2}$</pre>"
                                       "<p><math><mrow><mi>x</mi></mrow></math></p>")
