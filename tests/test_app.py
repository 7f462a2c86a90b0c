"""The use cases behind the command line (grader/app/): one walk of the class folder, students named by it."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from grader import batch
from tests.conftest import invoke_grade
from tests.notebooks import SOLUTIONS


def _reference(name: str, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(SOLUTIONS / name / f"{name}.ipynb", path)
    return path


def test_class_folder_walked_once_and_students_named_per_assignment(tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """Mechanism: a mixed class folder is walked once (batch.discover); each notebook's student id is then told
    knowing the notebook name of the assignment it was routed to: a folder under the given one names the student,
    a file right in a given folder named like its assignment's notebook takes that folder's name, any other file
    its own name, and a deeper file named like the notebook still belongs to the folder under the given one."""
    tree = tmp_path / "carol"
    _reference("backward_pass", tree / "alice" / "backward_pass.ipynb")
    _reference("forward_pass", tree / "bob" / "forward_pass.ipynb")
    _reference("forward_pass", tree / "forward_pass.ipynb")
    _reference("backward_pass", tree / "erin.ipynb")
    _reference("backward_pass", tree / "dave" / "week2" / "backward_pass.ipynb")
    walks = []
    discover = batch.discover

    def counted(paths):
        walks.append(tuple(paths))
        return discover(paths)

    monkeypatch.setattr(batch, "discover", counted)
    run = invoke_grade(tree, "-q")
    assert run.exit_code == 0, run.stderr
    assert walks == [(tree,)]
    students = {(row["student"], row["assignment"], row["score"]) for row in run.doc["submissions"]}
    assert students == {("alice", "backward_pass", 10), ("bob", "forward_pass", 10), ("carol", "forward_pass", 10),
                        ("erin", "backward_pass", 10), ("dave", "backward_pass", 10)}, students


def test_notebook_given_itself_is_named_after_its_folder_once_its_assignment_is_known(tmp_path: Path) -> None:
    """Mechanism: a notebook named on the command line is named by the path as given (Found.named_by), so
    frank/forward_pass.ipynb given itself belongs to frank, and frank/draft.ipynb to draft, whatever the
    assignment it is routed to."""
    given = _reference("forward_pass", tmp_path / "frank" / "forward_pass.ipynb")
    draft = _reference("gradient_descent", tmp_path / "frank" / "draft.ipynb")
    found = {each.submission.given: each for each in batch.discover([given, draft])}
    assert found[str(given)].named("forward_pass.ipynb").student == "frank"
    assert found[str(given)].named("backward_pass.ipynb").student == "forward_pass"
    assert found[str(draft)].named("gradient_descent.ipynb").student == "draft"
    run = invoke_grade(given, draft, "-q")
    assert run.exit_code == 0, run.stderr
    assert {(row["student"], row["assignment"]) for row in run.doc["submissions"]} == {
        ("frank", "forward_pass"), ("draft", "gradient_descent")}
