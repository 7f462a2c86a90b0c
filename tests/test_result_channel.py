"""The child's result channel (fd 3) under hostile writes: whatever frame a notebook forges there, the
grader reads it within the caps of `grader.sandbox.wire` and gives that submission an error, never
credit and never the end of the batch; what the child writes to stderr goes no further than the server.

One batch holds every variant next to a right notebook; it runs again as uid 65534.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from grader.sandbox import wire
from tests import unprivileged
from tests.conftest import invoke_grade
from tests.notebooks import reference_body, student_notebook, write


def _forge(payload: str) -> str:
    """A cell that writes `payload` (Python bytes-literal source) raw on fd 3, then ends the child."""
    return f"import os\nos.write(3, {payload})\nos._exit(0)\n"


FORGED = {
    # A header announcing more than the server relays: dropped unread.
    "oversized": _forge(f"({wire.MAX_RESULT + 1}).to_bytes(8, 'big') + b'{{}}'"),
    # A header announcing more than follows: cut off, no result.
    "cut_off": _forge("(100).to_bytes(8, 'big') + b'{\"function\"'"),
    # Valid JSON that is not an object.
    "not_an_object": _forge("(5).to_bytes(8, 'big') + b'[1,2]'"),
    # NaN is not JSON: the grader refuses the constant.
    "nan": _forge("(16).to_bytes(8, 'big') + b'{\"function\":NaN}'"),
    # Bytes that are not UTF-8 JSON at all.
    "not_json": _forge("(4).to_bytes(8, 'big') + b'\\xff\\xfe{['"),
}
STDERR_MARK = "STDERR-STAYS-IN-THE-SANDBOX"
# Exception texts the child's document carries as written: json would escape them, the child's writer (msgspec)
# writes UTF-8, and falls back to json for a lone surrogate, which UTF-8 cannot hold.
MESSAGES = {"unicode_message": "naïve ✓ 中 \U0001f600 end", "surrogate_message": "half \ud800 end"}


@pytest.fixture(scope="module")
def batch(tmp_path_factory: pytest.TempPathFactory):
    folder: Path = tmp_path_factory.mktemp("result-channel")
    write(student_notebook(reference_body()), folder / "good.ipynb")
    for name, cell in FORGED.items():
        write(student_notebook(reference_body(), extra_cells=[cell]), folder / f"{name}.ipynb")
    for name, text in MESSAGES.items():
        write(student_notebook(f"raise ValueError({text!r})"), folder / f"{name}.ipynb")
    loud = f"import sys\nsys.stderr.write({STDERR_MARK!r} * 1000)\nsys.stderr.flush()\n"
    write(student_notebook(reference_body(), helper_cells=[loud]), folder / "stderr.ipynb")
    return invoke_grade(folder, "--timeout", "5", "--no-cache")


@pytest.mark.parametrize("name", sorted(FORGED))
def test_forged_result_frame_is_an_error_without_credit(batch, name: str) -> None:
    """wire.MAX_RESULT, the cut-off read, decode_document (object only, NaN refused, bad bytes): no document, an error."""
    row = batch.submission(name)
    assert row["status"] == "error" and row["score"] == 0, row
    assert any("before it could report" in message for message in row["messages"]), row["messages"]


def test_batch_goes_on_next_to_forged_frames(batch) -> None:
    """Each forged frame ends only its own child: the right notebook beside them is graded in full."""
    assert batch.exit_code == 0, batch.stderr[-2000:]
    good = batch.submission("good")
    assert good["score"] == good["max_score"], good["messages"]


@pytest.mark.parametrize("name", sorted(MESSAGES))
def test_a_childs_text_reaches_the_report_as_written(batch, name: str) -> None:
    """fastjson.dumps in the child: a public-case exception's text, non-ASCII or holding a lone surrogate, comes back
    in the student's messages (the child's document was read), its characters unchanged but for the surrogate."""
    row = batch.submission(name)
    shown = " ".join(row["messages"])
    assert row["score"] == 0 and "before it could report" not in shown and "raised an exception on 41 of 41" in shown
    assert all(word in shown for word in MESSAGES[name].replace("\ud800", " ").split()), shown


def test_child_stderr_reaches_no_report(batch) -> None:
    """The reply carries stdout's excerpt only (wire.REPLY_FRAMES): stderr is captured and goes no further."""
    row = batch.submission("stderr")
    assert row["score"] == row["max_score"], row["messages"]
    assert STDERR_MARK not in json.dumps(batch.doc) and STDERR_MARK not in batch.stderr


@pytest.mark.skipif(unprivileged.unavailable() is not None, reason=str(unprivileged.unavailable()))
def test_result_channel_unprivileged() -> None:
    """The same batch as uid 65534: the caps do not depend on the sandbox's uid drop."""
    result = unprivileged.run_unprivileged(f"{Path(__file__)}", "-k", "not unprivileged")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert f"{len(FORGED) + len(MESSAGES) + 2} passed" in result.stdout, result.stdout[-2000:]
