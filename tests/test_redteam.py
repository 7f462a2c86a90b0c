"""Red-team findings: each test states a promise the grader once broke and now keeps.

One batch grades the hostile notebooks next to a good one; a second, tiny run holds the forged
result that used to crash the whole grader (it would take the batch down with it).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import invoke_grade, steps_of
from tests.notebooks import reference_body, student_notebook, write

WRONG = "return np.zeros_like(hidden_layer_out), np.zeros((len(x), len(hidden_layer_out)))\n"

# Zeros and infinities only: no step is computed, yet the infinite "upstream" values make the
# reference's carried-forward expectation infinite, and |finite - inf| <= rtol * inf holds.
INFINITE_UPSTREAM = """
error = np.zeros_like(np.asarray(output_layer_out, dtype=float))
output_error_term = np.full_like(np.asarray(output_layer_out, dtype=float), np.inf)
hidden_error = np.zeros_like(np.asarray(hidden_layer_out, dtype=float))
hidden_error_term = np.full_like(np.asarray(hidden_layer_out, dtype=float), np.inf)
delta_w_h_o = np.zeros_like(np.asarray(hidden_layer_out, dtype=float))
delta_w_i_h = np.zeros((len(x), len(hidden_layer_out)))
return delta_w_h_o, delta_w_i_h
"""

# Terminal escapes in an exception message: OSC sequences (window title, OSC 52 clipboard
# write) survive click's ANSI stripping, and nothing is stripped at all on a real terminal.
ESCAPES = "raise RuntimeError('\\x1b]52;c;ZWNobyBwd25lZA==\\x07\\x1b]0;PWNED\\x07 done')"

# A directory chain deeper than Python's recursion limit: shutil.rmtree in the fork server
# raises RecursionError while cleaning up, and the server process dies.
DEEP_DIRS = "import os\nfor i in range(3000):\n    os.mkdir('d')\n    os.chdir('d')"

# A forged result frame on fd 3 whose warning has an infinite "cell": int(inf) raises
# OverflowError in the grader's parser, which catches only KeyError/TypeError/ValueError/AttributeError.
FORGED_INFINITY = '''
import os, struct
payload = b'{"function":"defined","f8":"","cases":[],"stopped":"timeout","warnings":[{"cell":1e999,"line":1,"message":"x"}]}'
os.write(3, struct.pack(">Q", len(payload)) + payload)
os._exit(0)
'''


@pytest.fixture(scope="module")
def batch(tmp_path_factory: pytest.TempPathFactory):
    folder: Path = tmp_path_factory.mktemp("redteam")
    write(student_notebook(), folder / "good.ipynb")
    write(student_notebook(INFINITE_UPSTREAM), folder / "infinite_upstream.ipynb")
    write(student_notebook(WRONG, extra_cells=[ESCAPES]), folder / "escapes.ipynb")
    write(student_notebook(WRONG, extra_cells=[DEEP_DIRS]), folder / "deep_dirs.ipynb")
    # A right function next to a cell too deeply nested for the parser (MemoryError, not SyntaxError).
    write(student_notebook(reference_body(), extra_cells=["y = " + "-" * 100_000 + "1"]), folder / "nested.ipynb")
    return invoke_grade(folder, "--timeout", "3", "--no-cache", "-v")  # -v: every message printed in full


def test_infinite_upstream_values_earn_no_carried_credit(batch) -> None:
    row = batch.submission("infinite_upstream")
    carried = [name for name, step in steps_of(row).items() if step["score"] > 0]
    assert row["score"] == 0, carried


def test_no_terminal_escape_sequences_in_printed_lines(batch) -> None:
    assert "PWNED" in batch.stderr  # the message is shown...
    assert "\x1b" not in batch.stderr  # ...but never as an escape sequence


def test_deep_directories_do_not_kill_the_fork_server(batch) -> None:
    row = batch.submission("deep_dirs")
    assert not any("sandbox process stopped" in message for message in row["messages"]), row["messages"]
    assert "Traceback" not in batch.stderr


def test_unparsable_deep_nesting_skips_only_its_cell(batch) -> None:
    row = batch.submission("nested")
    assert row["score"] == row["max_score"], row["messages"]


def test_good_submission_unaffected(batch) -> None:
    row = batch.submission("good")
    assert row["score"] == row["max_score"]


def test_forged_infinite_number_does_not_end_the_batch(tmp_path: Path) -> None:
    write(student_notebook(), tmp_path / "good.ipynb")
    write(student_notebook(WRONG, extra_cells=[FORGED_INFINITY]), tmp_path / "forged.ipynb")
    run = invoke_grade(tmp_path, "--timeout", "3", "--no-cache")
    assert run.exit_code == 0, run.stderr[-500:]
    assert run.submission("good")["score"] == run.submission("good")["max_score"]
    assert run.submission("forged")["score"] == 0
