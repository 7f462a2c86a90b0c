"""The author's contract, held for every assignment of solutions/, through the commands a user runs.

Each `solutions/<name>/` with a rubric.toml is discovered at collection time, so the suite holds
with any number of assignments. For each: the reference scores full marks on its own cases, the
committed stub is fresh and scores zero, the oracle agrees with the reference on any seed, every
catalogue entry is recognised on a notebook made from the reference with that one mistake, the
student self-check works from the stub's public case, and the example class grades cleanly.
"""

from __future__ import annotations

import ast
import json
import re
import shutil
import tomllib
from pathlib import Path

import nbformat
import numpy as np
import pytest
from click.testing import CliRunner

from grader import assignment, compare
from grader.assignment import cases as case_builder
from grader.cli import check, make_stub
from grader.judge import earned, feedback
from grader.models import Tolerance
from tests.conftest import CLEAN_ENV, GradeRun, invoke_grade, steps_of
from tests.notebooks import ASSIGNMENTS, REPO, SOLUTIONS

NAMES = sorted(path.parent.name for path in SOLUTIONS.glob("*/rubric.toml"))
# Besides the rubric's seed, two others: an oracle or catalogue tuned to one draw of cases fails here.
OTHER_SEEDS = (1, 987654321)
_ANSWER = re.compile(r"#+\s*SOLUTION\s*$")
_BEGIN = re.compile(r"^\s*#+\s*BEGIN SOLUTION\s*$")
_END = re.compile(r"^\s*#+\s*END SOLUTION\s*$")
_STEP_LINE = re.compile(r"^\s*(?P<target>[A-Za-z_]\w*)\s*(?P<op>[-+*/]?)=(?!=)")


def _rubric(name: str) -> dict:
    return tomllib.loads((SOLUTIONS / name / "rubric.toml").read_text(encoding="utf-8"))


def _steps(name: str) -> list[str]:
    return [step["name"] for step in _rubric(name)["steps"]]


def _catalogue(name: str) -> list[dict]:
    file = _rubric(name).get("feedback", {}).get("misconceptions")
    if not file:
        return []
    return tomllib.loads((SOLUTIONS / name / file).read_text(encoding="utf-8"))["misconception"]


def _first_formula(entry: dict) -> str:
    return entry["formula"][0] if isinstance(entry["formula"], list) else entry["formula"]


def _answer_lines(source: str) -> list[int]:
    """Indices of the answer lines of a cell: marked `# SOLUTION`, or inside a BEGIN/END SOLUTION block."""
    found, inside = [], False
    for index, line in enumerate(source.splitlines()):
        if _BEGIN.match(line) or _END.match(line):
            inside = bool(_BEGIN.match(line))
        elif inside or _ANSWER.search(line):
            found.append(index)
    return found


def _with_mistake(source: str, function: str, returns: list[str], step: str, formula: str) -> str | None:
    """The graded function's cell with the reference's answer for `step` replaced by `formula`, or None if it has none.

    `step += expr` becomes `step = formula` (the catalogue's formula names the previous value `step`);
    a step computed in a marked return statement gets `formula` in its place in the returned value.
    """
    if f"def {function}(" not in source:
        return None
    lines = source.splitlines()
    for index in _answer_lines(source):
        line = lines[index]
        indent = line[: len(line) - len(line.lstrip())]
        assigned = _STEP_LINE.match(line)
        if assigned and assigned.group("target") == step:
            lines[index] = f"{indent}{step} = {formula}"
            return "\n".join(lines)
        code = _ANSWER.sub("", line).strip()
        if code.startswith("return ") and step in returns:
            returned = ast.parse(code[len("return "):], mode="eval").body
            if len(returns) == 1:
                returned = ast.parse(formula, mode="eval").body
            else:
                returned.elts[returns.index(step)] = ast.parse(formula, mode="eval").body
            lines[index] = f"{indent}return {ast.unparse(returned)}"
            return "\n".join(lines)
    return None


def _mistaken_notebook(reference: Path, function: str, returns: list[str], step: str, formula: str) -> nbformat.NotebookNode:
    node = nbformat.read(reference, as_version=4)
    replaced = 0
    for cell in node.cells:
        if cell.cell_type == "code":
            changed = _with_mistake(cell.source, function, returns, step, formula)
            if changed is not None:
                cell.source, replaced = changed, replaced + 1
    assert replaced == 1, f"{reference}: no single answer line (marked # SOLUTION) computes step {step}"
    return node


def _row(run: GradeRun, student: str) -> dict:
    return run.submission(student)


@pytest.fixture(scope="module", params=NAMES)
def graded(request, tmp_path_factory) -> tuple[str, GradeRun, list[tuple[str, dict]]]:
    """One `grade --assignment NAME` run over the reference, the committed stub and one notebook per catalogue entry.

    The reference and the mistaken notebooks carry the stub's metadata (its public case), as a student's
    notebook made from the stub does: `grade-check` reads them as it reads a student's.
    """
    name = request.param
    rubric = _rubric(name)["assignment"]
    reference = SOLUTIONS / name / rubric["notebook"]
    stub = ASSIGNMENTS / name / rubric["notebook"]
    metadata = nbformat.read(stub, as_version=4).metadata
    root = tmp_path_factory.mktemp(f"contract-{name}")
    (root / "stub").mkdir()
    shutil.copyfile(stub, root / "stub" / rubric["notebook"])
    (root / "reference").mkdir()
    node = nbformat.read(reference, as_version=4)
    node.metadata = metadata
    nbformat.write(node, root / "reference" / rubric["notebook"])
    mistakes = []
    for number, entry in enumerate(_catalogue(name), start=1):
        student = f"mistake{number:02d}"
        (root / student).mkdir()
        node = _mistaken_notebook(reference, rubric["function"], list(rubric["returns"]), entry["step"],
                                  _first_formula(entry))
        node.metadata = metadata
        nbformat.write(node, root / student / rubric["notebook"])
        mistakes.append((student, entry))
    run = invoke_grade(root, "--assignment", name)
    assert run.exit_code == 0, run.stderr
    return name, run, mistakes


def test_reference_gets_full_marks_on_its_own_cases(graded):
    """The reference passes every step on the public and every hidden case (the rubric, cases and capture agree)."""
    name, run, _ = graded
    row = _row(run, "reference")
    assert row["status"] == "graded", row["messages"]
    assert [step["name"] for step in row["steps"]] == _steps(name)
    assert all(step["status"] == "pass" and step["cases_passed"] == step["cases_total"] > 1 for step in row["steps"]), row
    assert row["score"] == row["max_score"] == sum(step["points"] for step in _rubric(name)["steps"])
    assert row["first_wrong_step"] is None and row["diagnoses"] == []


def test_committed_stub_is_fresh(graded):
    """`grade-stub NAME --check` regenerates exactly the committed stub and public case (the stub round-trips)."""
    name, _, _ = graded
    result = CliRunner().invoke(make_stub, [name, "--check", "--solutions", str(SOLUTIONS),
                                            "--assignments", str(ASSIGNMENTS)], env=CLEAN_ENV)
    assert result.exit_code == 0, result.output


def test_stub_scores_zero(graded):
    """The stub's placeholders earn nothing: every step fails to pass, the score is 0."""
    _, run, _ = graded
    row = _row(run, "stub")
    assert row["score"] == 0, row
    assert all(step["status"] != "pass" and step["score"] == 0 for step in row["steps"]), row["steps"]


@pytest.mark.parametrize("name", NAMES)
def test_oracle_agrees_with_the_reference(name):
    """The rubric's oracle loads as the grader loads it (a disagreement with the reference raises) for three seeds."""
    oracle = _rubric(name).get("feedback", {}).get("oracle")
    if oracle is None:
        return  # the oracle is optional; this assignment has none
    loaded = assignment.load(SOLUTIONS, name)
    for seed in (loaded.defaults.seed, *OTHER_SEEDS):
        built = case_builder.build(loaded, seed)
        assert feedback.load(loaded, built).oracle is not None, seed


def test_every_catalogue_entry_is_recognised(graded):
    """Each known mistake, written into the reference alone, is diagnosed by name at its step, the first wrong step.

    A mistake that makes the function raise on some case (shapes that do not broadcast) leaves that case's
    earlier steps without a value, so its first wrong step may come earlier; its diagnosis is required all the same.
    A mistaken notebook passing the step would be an entry equal to the reference on every case: a broken catalogue.
    """
    name, run, mistakes = graded
    raised = f"{_rubric(name)['assignment']['function']}() raised an exception"
    unrecognised = []
    for student, entry in mistakes:
        row = _row(run, student)
        named = {(diagnosis["step"], diagnosis["misconception"]) for diagnosis in row["diagnoses"]}
        assert steps_of(row)[entry["step"]]["status"] != "pass", f"{entry['name']} equals the reference on every case"
        first_ok = row["first_wrong_step"] == entry["step"] or any(message.startswith(raised) for message in row["messages"])
        if (entry["step"], entry["name"]) not in named or not first_ok:
            unrecognised.append((entry["name"], entry["step"], row["first_wrong_step"], sorted(named)))
    assert unrecognised == []


def _self_check(run: GradeRun, students: list[str]) -> list[dict]:
    """One `grade-check --json -` over these students' notebooks (their own public case): each one's submission object."""
    paths = [str(_row(run, student)["submission"]) for student in students]
    result = CliRunner().invoke(check, [*paths, "--json", "-"], env=CLEAN_ENV)
    assert result.exit_code == 0, result.output
    document = json.loads(result.output)
    assert [Path(row["submission"]).parent.name for row in document["submissions"]] == students
    return document["submissions"]


def _recognisable(name: str) -> set[tuple[str, str]]:
    """The catalogue entries the public case can tell: their first formula's value at their step (the one the mistaken
    notebooks use) is informative, wrong, and no other entry's at that step (what the public case document carries)."""
    document = json.loads((ASSIGNMENTS / name / "public_case.json").read_text(encoding="utf-8"))
    tolerance = Tolerance(**document["tolerance"])
    known = [(item["step"], item["name"], np.array(item["values"][item["step"]]), item["variant"])
             for item in document["mistakes"]]

    def alike(first: np.ndarray, second: np.ndarray) -> bool:
        return compare.check(first, second, tolerance, explain=False).ok

    return {(step, entry) for step, entry, value, variant in known if variant == 0
            and not earned.degenerate(value, tolerance) and not alike(value, np.array(document["expected"][step]))
            and not any(alike(value, other) for other_step, other_entry, other, _ in known
                        if other_step == step and other_entry != entry)}


def test_self_check_agrees_with_the_grade(graded):
    """Issue 11: `grade-check` (no solutions, the public case inside each notebook) agrees with `grade` on every
    catalogue entry's notebook, the reference and the stub, in one run.

    Mechanism: the public case document carries each known mistake's values and the reference's chain after it
    (grade-stub). So the self-check names the same mistake at the same first wrong step wherever the public case
    can tell it (and never a mistake the grade does not name), calls a later step carried only where the grade
    does not pass it directly, never calls wrong a step the grade passes, gives the same submission status, and
    gives no score but a bound the grade never exceeds.
    """
    name, run, mistakes = graded
    recognisable = _recognisable(name)
    students = ["reference", "stub"] + [student for student, _ in mistakes]
    checked = dict(zip(students, _self_check(run, students)))
    reference, stub = checked["reference"], checked["stub"]
    assert {step["name"]: step["status"] for step in reference["steps"]} == dict.fromkeys(_steps(name), "pass")
    assert reference["first_wrong_step"] is None and reference["score_at_most"] == reference["max_score"]
    assert [step["name"] for step in stub["steps"]] == _steps(name)
    assert not any(step["status"] == "pass" for step in stub["steps"]), stub["steps"]
    missing = [step["message"] for step in stub["steps"] if step["status"] == "missing"]
    assert missing and all(message.startswith("not attempted") for message in missing), stub["steps"]
    disagreements, named = [], 0
    for student, entry in mistakes:
        row, own = _row(run, student), checked[student]
        graded_steps = steps_of(row)
        problems = []
        names = {(diagnosis["step"], diagnosis["misconception"]) for diagnosis in own["diagnoses"]}
        graded_names = {(diagnosis["step"], diagnosis["misconception"]) for diagnosis in row["diagnoses"]}
        if not names <= graded_names:
            problems.append(f"names {sorted(names - graded_names)}")
        if (entry["step"], entry["name"]) in recognisable and (entry["step"], entry["name"]) not in names:
            problems.append("does not name it")
        if own["first_wrong_step"] not in (row["first_wrong_step"], None):
            problems.append(f"first wrong {own['first_wrong_step']}")
        if own["status"] != row["status"] or own["score"] is not None or own["score_at_most"] < row["score"]:
            problems.append(f"{own['status']} at most {own['score_at_most']}")
        for step in own["steps"]:
            verdict = graded_steps[step["name"]]
            if step["status"] in ("fail", "missing") and verdict["status"] == "pass":
                problems.append(f"{step['name']} {step['status']}")
            if step["carried_forward"] and verdict["status"] == "pass" and not verdict["carried_forward"]:
                problems.append(f"{step['name']} carried")
        named += bool(names)
        if problems:
            disagreements.append((entry["name"], problems))
    assert disagreements == []
    assert named >= len(recognisable & {(entry["step"], entry["name"]) for _, entry in mistakes}) > 0


def _readable(path: Path) -> bool:
    try:
        nbformat.read(path, as_version=4)
    except (OSError, ValueError, KeyError, AttributeError, nbformat.ValidationError):
        return False
    return True


def _compiles(path: Path) -> bool:
    """Whether every code cell of a notebook is Python (IPython `%`/`!` lines aside)."""
    try:
        node = nbformat.read(path, as_version=4)
        for cell in node.cells:
            if cell.cell_type == "code":
                ast.parse("\n".join(line for line in cell.source.splitlines() if not line.lstrip().startswith(("%", "!"))))
    except SyntaxError:
        return False
    return True


def _examples(name: str) -> Path | None:
    folder = REPO / "examples" / ("submissions" if name == "backward_pass" else name)
    return folder if folder.is_dir() else None


@pytest.mark.parametrize("name", [name for name in NAMES if _examples(name)])
def test_example_class_grades_cleanly(name):
    """The example class of the assignment grades (exit 0); only deliberately broken files are `error` or `invalid`.

    A deliberately broken file is one nbformat cannot read (`invalid`) or whose code does not compile (`error`).
    """
    folder = _examples(name)
    run = invoke_grade(folder, "--assignment", name)
    assert run.exit_code == 0, run.stderr
    assert run.doc["submissions"], folder
    for row in run.doc["submissions"]:
        path = Path(row["submission"])
        path = path if path.is_absolute() else REPO / path
        if row["status"] == "error":
            assert not _compiles(path), (row["student"], row["messages"])
        elif row["status"] == "invalid":
            assert not _readable(path), (row["student"], row["messages"])
        else:
            assert row["status"] == "graded", (row["student"], row["messages"])


def test_one_run_over_every_assignment_grades_each_against_its_own(tmp_path: Path) -> None:
    """Issue 10: one `grade` (no --assignment) over a folder mixing every assignment's reference and stub gives each
    reference full marks and each stub zero, each row graded against its own assignment."""
    for name in NAMES:
        notebook = _rubric(name)["assignment"]["notebook"]
        for kind, source in (("reference", SOLUTIONS / name / notebook), ("stub", ASSIGNMENTS / name / notebook)):
            target = tmp_path / f"{kind}-{name}" / notebook
            target.parent.mkdir()
            shutil.copyfile(source, target)
    run = invoke_grade(tmp_path)
    assert run.exit_code == 0, run.stderr
    rows = {row["student"]: row for row in run.doc["submissions"]}
    assert len(rows) == 2 * len(NAMES)
    for name in NAMES:
        reference, stub = rows[f"reference-{name}"], rows[f"stub-{name}"]
        assigned = [row.get("assignment", run.doc["assignment"]) for row in (reference, stub)]
        assert assigned == [name, name], (name, assigned)
        assert reference["score"] == reference["max_score"], (name, reference["messages"])
        assert stub["score"] == 0, (name, stub["steps"])
