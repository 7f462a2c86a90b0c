"""Several notebooks of one student for one assignment, through the real `grade`: one graded by the README's rule
(the assignment's own file name or a resubmission of it, then the latest resubmission, then path order), its grade
warning with the others' names, each other one a row saying it was not graded and which one was."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import nbformat

from tests.notebooks import ASSIGNMENTS, SOLUTIONS, reference_body, student_notebook, write

REPO = Path(__file__).resolve().parents[1]
PARTIAL = reference_body(error="output_layer_out - target")


def _grade(paths: list[Path], out: Path) -> dict[str, dict]:
    """The real command, reports (and the results log it resumes from) in `out`; rows by submission."""
    command = [sys.executable, "-m", "grader", *map(str, paths), "--solutions", str(SOLUTIONS), "--timeout", "5",
               "--jobs", "2", "-q", "--out", str(out), "--json", str(out / "report.json")]
    result = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=120)
    assert result.returncode in (0, 1) and "Traceback" not in result.stderr, result.stderr
    return {row["submission"]: row for row in json.loads((out / "report.json").read_text())["submissions"]}


def _warnings(row: dict) -> list[str]:
    return [message for message in row["messages"] if message.startswith("Warning: student")]


def test_one_notebook_per_student(tmp_path):
    """Copies lose to the assignment's name, the latest Canvas-style resubmission wins, a student in two folders
    or in a folder and a zip is graded once (path order, then name); another assignment's notebook of the same
    student is not a duplicate, nor are files named one by one on the command line (frank's two);
    once the copy is gone so is the warning, the other rows resumed as they were."""
    tree, other = tmp_path / "class", tmp_path / "other"
    write(student_notebook(PARTIAL), tree / "alice" / "backward_pass.ipynb")
    write(student_notebook(), tree / "alice" / "backward_pass-Copy1.ipynb")
    shutil.copy(ASSIGNMENTS / "forward_pass" / "forward_pass.ipynb", tree / "alice" / "forward_pass.ipynb")
    write(student_notebook(PARTIAL), tree / "bob" / "backward_pass-1.ipynb")
    write(student_notebook(), tree / "bob" / "backward_pass-2.ipynb")
    write(student_notebook(PARTIAL), tree / "bob" / "backward_pass.ipynb")
    write(student_notebook(PARTIAL), tree / "carol" / "backward_pass.ipynb")
    write(student_notebook(), other / "carol" / "backward_pass.ipynb")
    write(student_notebook(PARTIAL), tree / "dave.ipynb")
    write(student_notebook(), tree / "eve.ipynb")
    named = [write(student_notebook(), tmp_path / folder / "frank" / "backward_pass.ipynb") for folder in "xy"]
    dave_zip = tmp_path / "dave.zip"
    with zipfile.ZipFile(dave_zip, "w") as archive:
        archive.writestr("backward_pass.ipynb", nbformat.writes(student_notebook()))
    out = tmp_path / "out"
    kept = {f"{tree}/alice/backward_pass.ipynb": (9.0, [f"{tree}/alice/backward_pass-Copy1.ipynb"]),
            f"{tree}/bob/backward_pass-2.ipynb": (10.0, [f"{tree}/bob/backward_pass-1.ipynb",
                                                         f"{tree}/bob/backward_pass.ipynb"]),
            f"{tree}/carol/backward_pass.ipynb": (9.0, [f"{other}/carol/backward_pass.ipynb"]),
            f"{dave_zip}/backward_pass.ipynb": (10.0, [f"{tree}/dave.ipynb"])}
    alone = [f"{tree}/eve.ipynb", f"{tree}/alice/forward_pass.ipynb", *map(str, named)]
    rows = _grade([tree, other, dave_zip, *named], out)
    _check(rows, kept, alone)
    assert len(rows) == 13 and {rows[str(path)]["student"] for path in named} == {"frank"}
    # Again without alice's copy: her grade no longer warns; the other rows are resumed, each warning once.
    (tree / "alice" / "backward_pass-Copy1.ipynb").unlink()
    rows = _grade([tree, other, dave_zip, *named], out)
    score = kept.pop(f"{tree}/alice/backward_pass.ipynb")[0]
    _check(rows, kept, alone)
    assert (rows[f"{tree}/alice/backward_pass.ipynb"]["score"], len(rows)) == (score, 12)
    assert not _warnings(rows[f"{tree}/alice/backward_pass.ipynb"])


def _check(rows: dict[str, dict], kept: dict[str, tuple[float, list[str]]], alone: list[str]) -> None:
    for given, (score, ignored) in kept.items():
        assert (rows[given]["status"], rows[given]["score"]) == ("graded", score), rows[given]
        [warning] = _warnings(rows[given])
        assert all(name in warning for name in ignored), warning
        for name in ignored:
            assert rows[name]["status"] == "error", rows[name]
            assert rows[name]["messages"] == [f"not graded: student {rows[name]['student']} handed in several "
                                              f"notebooks and {given} is graded instead (README, \"Duplicates\")"]
    for given in alone:
        assert not _warnings(rows[given]) and not rows[given]["messages"][-1].startswith("not graded"), rows[given]
