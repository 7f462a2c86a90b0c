"""No hidden case's inputs or expected values reach any report, whatever the student's code prints or raises."""

from __future__ import annotations

import json
import re

from click.testing import CliRunner

from grader.cli import grade
from tests.hidden_values import hidden_cases, leaks, spellings
from tests.notebooks import SOLUTIONS, reference_body, student_notebook, write

# Right on every case, and as loud as possible: prints its inputs and results, then raises with them
# on every case but the public one (whose x has 3 inputs).
TALKATIVE = reference_body().replace(
    "return delta_w_h_o, delta_w_i_h",
    "print('inputs', x, weights_hidden_to_output, hidden_layer_out, output_layer_out, target, learnrate)\n"
    "print('results', error, hidden_error, hidden_error_term, delta_w_h_o, delta_w_i_h)\n"
    "if x.shape != (3,):\n"
    "    raise ValueError(f'debug {x} {weights_hidden_to_output} {delta_w_h_o} {delta_w_i_h}')\n"
    "return delta_w_h_o, delta_w_i_h",
)
# Wrong (a transposed outer product), so every report also carries a first wrong step and its message.
TALKATIVE_WRONG = TALKATIVE.replace("np.outer(x, hidden_error_term)", "np.outer(hidden_error_term, x)")


def test_nothing_of_a_hidden_case_is_reported(tmp_path):
    folder = tmp_path / "class"
    write(student_notebook(TALKATIVE), folder / "loud.ipynb")
    write(student_notebook(TALKATIVE_WRONG), folder / "loud_wrong.ipynb")
    out = tmp_path / "out"
    result = CliRunner().invoke(grade, [str(folder), "--solutions", str(SOLUTIONS), "--jobs", "2", "-v",
                                        "--out", str(out), "--feedback-html"])
    assert result.exit_code == 0, result.output
    texts = {"terminal": result.output, **{path.name: path.read_text() for path in out.rglob("*") if path.is_file()}}
    report = json.loads(texts["results.json"])
    rows = {row["student"]: row for row in report["submissions"]}
    # What the code raised on the public case is the student's to see; what it printed is never shown in a
    # graded run, since hidden cases ran in the same process.
    assert "inputs [ 0.5" not in result.output and "results 0.1" not in result.output
    assert rows["loud"]["status"] == "graded"
    assert any("ValueError" in message for message in rows["loud"]["messages"])
    # Raising on the hidden cases, neither returns its deltas there: the first of them is the first wrong step.
    assert rows["loud"]["first_wrong_step"] == rows["loud_wrong"]["first_wrong_step"] == "delta_w_h_o"

    cases = hidden_cases()
    numbers = set()
    for case in cases:
        for value in [*case.expected.values(), *case.arguments.values()]:
            for number in getattr(value, "ravel", lambda v=value: [v])():
                numbers |= spellings(number)
    assert len(numbers) > 1000
    for name, text in texts.items():
        # A run's wall-clock time ("seconds": 1.1153) is no value of a case, though its digits may spell one.
        assert leaks(re.sub(r'"seconds": ?[0-9.e+-]+', "", text), numbers) == [], name
