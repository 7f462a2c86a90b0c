"""The command line's contracts (README: commands, reports, exit status): finding notebooks, ids, order, reports, exit codes."""

from __future__ import annotations

import csv
import json
import os
import shutil

import pytest
from click.testing import CliRunner

from grader.cli import check, grade, make_stub
from tests.conftest import CLEAN_ENV, steps_of
from tests.notebooks import REFERENCE, SOLUTIONS, STEPS, reference_body, student_notebook, write

WRONG = reference_body(error="output_layer_out - target")


@pytest.fixture(scope="module")
def class_folder(tmp_path_factory):
    """A class handed in two ways: folders per student and flat files, plus checkpoints to skip."""
    root = tmp_path_factory.mktemp("class") / "submissions"
    write(student_notebook(), root / "alice" / "backward_pass.ipynb")
    write(student_notebook(WRONG), root / "bob.ipynb")
    write(student_notebook(reference_body(hidden_error_term="hidden_error")), root / "carol" / "backward_pass.ipynb")
    write(student_notebook(), root / "dave.ipynb")
    write(student_notebook(), root / "erin" / "week3" / "backward_pass.ipynb")
    write(student_notebook(WRONG), root / ".ipynb_checkpoints" / "dave-checkpoint.ipynb")
    write(student_notebook(WRONG), root / "alice" / ".ipynb_checkpoints" / "backward_pass-checkpoint.ipynb")
    return root


@pytest.fixture(scope="module")
def class_run(class_folder, run_grade):
    run = run_grade(class_folder, jobs=3)
    assert run.exit_code == 0, run.stderr
    return run


def test_student_ids_from_folders_and_files(class_run, class_folder):
    rows = class_run.doc["submissions"]
    assert [row["student"] for row in rows] == ["alice", "bob", "carol", "dave", "erin"]
    assert all("checkpoint" not in row["submission"] for row in rows)
    assert rows[0]["submission"] == str(class_folder / "alice" / "backward_pass.ipynb")
    assert rows[1]["submission"] == str(class_folder / "bob.ipynb")


def test_notebook_named_twice_is_graded_once(class_folder, run_grade):
    run = run_grade(class_folder / "bob.ipynb", class_folder, class_folder / "bob.ipynb")
    assert run.exit_code == 0
    assert sorted(row["student"] for row in run.doc["submissions"]) == ["alice", "bob", "carol", "dave", "erin"]


def test_results_sorted_by_path(class_run):
    paths = [row["submission"] for row in class_run.doc["submissions"]]
    assert paths == sorted(paths)


def test_results_identical_whatever_the_number_of_jobs(class_run, class_folder, run_grade):
    one = run_grade(class_folder, jobs=1)
    assert one.exit_code == 0
    assert one.doc == class_run.doc


def test_single_files_are_named_after_their_folder_or_file(class_folder, run_grade):
    run = run_grade(class_folder / "carol" / "backward_pass.ipynb", class_folder / "bob.ipynb")
    assert [row["student"] for row in run.doc["submissions"]] == ["carol", "bob"]


def test_out_writes_results_and_gradebook(class_folder, tmp_path):
    out = tmp_path / "reports"
    json_file = tmp_path / "report.json"
    result = CliRunner().invoke(grade, [str(class_folder), "--solutions", str(SOLUTIONS), "--jobs", "2",
                                        "--json", str(json_file), "--out", str(out)], env=CLEAN_ENV)
    assert result.exit_code == 0, result.stderr
    results = json.loads((out / "results.json").read_text(encoding="utf-8"))
    assert results == json.loads(json_file.read_text(encoding="utf-8"))
    with open(out / "gradebook.csv", newline="", encoding="utf-8-sig") as stream:
        table = list(csv.reader(stream))
    assert table[0] == ["student", "submission", "assignment", "status", "score", "max_score", *STEPS,
                        "original_score", "adjustment"]
    assert len(table) == 1 + len(results["submissions"]) == 6
    for line, row in zip(table[1:], results["submissions"]):
        assert line[:4] == [row["student"], row["submission"], "backward_pass", row["status"]]
        assert float(line[4]) == row["score"] and float(line[5]) == row["max_score"]
        assert [float(cell) for cell in line[6:-2]] == [step["score"] for step in row["steps"]]
        assert line[-2:] == ["", ""]  # no override file: nothing adjusted
    # The reports, the results log and the content cache; no temporary file left.
    assert sorted(path.name for path in out.iterdir()) == [".cache", "gradebook.csv", "report.html", "results.json",
                                                            "results.jsonl"]


def test_fail_under(class_folder, run_grade):
    assert run_grade(class_folder, "--fail-under", "100").exit_code == 1
    correct = [class_folder / "alice" / "backward_pass.ipynb", class_folder / "dave.ipynb"]
    assert run_grade(*correct, "--fail-under", "100").exit_code == 0
    assert run_grade(class_folder, "--fail-under", "50").exit_code == 0


def test_missing_solutions_folder_is_a_clear_error(class_folder, run_grade, tmp_path, monkeypatch):
    run = run_grade(class_folder, solutions=tmp_path / "nowhere")
    assert run.exit_code == 2
    assert "solutions" in run.stderr and "nowhere" in run.stderr
    monkeypatch.chdir(tmp_path)  # no ./solutions, no GRADER_SOLUTIONS
    run = run_grade(class_folder, solutions=None)
    assert run.exit_code == 2
    assert "solutions" in run.stderr and "GRADER_SOLUTIONS" in run.stderr


def test_solutions_from_environment(class_folder, run_grade, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    run = run_grade(class_folder / "dave.ipynb", solutions=None, env={"GRADER_SOLUTIONS": str(SOLUTIONS)})
    assert run.exit_code == 0, run.stderr
    assert run.doc["submissions"][0]["score"] == 10


def test_unknown_assignment_is_a_usage_error(class_folder, run_grade):
    run = run_grade(class_folder / "dave.ipynb", "--assignment", "no_such_assignment")
    assert run.exit_code == 2
    assert "no_such_assignment" in run.stderr


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_reference_failing_its_own_cases_is_an_internal_error(class_folder, run_grade, tmp_path):
    broken = tmp_path / "solutions"
    shutil.copytree(SOLUTIONS, broken)
    reference = broken / "backward_pass" / "backward_pass.ipynb"
    text = reference.read_text(encoding="utf-8")
    assert text.count("np.outer(x, hidden_error_term)") == 1
    reference.write_text(text.replace("np.outer(x, hidden_error_term)", "np.outer(x, hidden_error_term) / 0"), encoding="utf-8")
    run = run_grade(class_folder / "dave.ipynb", solutions=broken)
    assert run.exit_code == 3
    assert "reference" in run.stderr and "Traceback" not in run.stderr


def test_bad_seed_variable_is_a_usage_error(class_folder, run_grade):
    run = run_grade(class_folder / "dave.ipynb", env={"GRADER_SEED": "lucky"})
    assert run.exit_code == 2
    assert "GRADER_SEED" in run.stderr


def test_nonexistent_path_is_a_usage_error(tmp_path, run_grade):
    run = run_grade(tmp_path / "no-such-folder")
    assert run.exit_code == 2
    assert "no-such-folder" in run.stderr


def test_folder_without_notebooks_is_a_usage_error(tmp_path, run_grade):
    (tmp_path / "notes.txt").write_text("nothing here\n", encoding="utf-8")
    run = run_grade(tmp_path)
    assert run.exit_code == 2
    assert "no notebooks" in run.stderr


# Right on a hidden case only when its (random) target is below 0.55: how many pass depends on the seed.
TARGET_DEPENDENT = reference_body(error="target - output_layer_out if target < 0.55 else output_layer_out - target")


@pytest.fixture(scope="module")
def seed_folder(tmp_path_factory):
    folder = tmp_path_factory.mktemp("seeds")
    write(student_notebook(TARGET_DEPENDENT), folder / "probe.ipynb")
    write(student_notebook(), folder / "reference.ipynb")
    return folder


def _seeded(run) -> int:
    assert run.exit_code == 0, run.stderr
    assert run.submission("reference")["score"] == 10
    return steps_of(run.submission("probe"))["error"]["cases_passed"]


def test_seed_changes_the_hidden_cases(seed_folder, run_grade):
    default = _seeded(run_grade(seed_folder))
    assert _seeded(run_grade(seed_folder)) == default  # deterministic
    by_option = [_seeded(run_grade(seed_folder, "--seed", str(seed))) for seed in (1, 2)]
    by_env = [_seeded(run_grade(seed_folder, env={"GRADER_SEED": str(seed)})) for seed in (1, 2)]
    assert by_env == by_option
    assert len({default, *by_option}) > 1, (default, by_option)
    assert _seeded(run_grade(seed_folder, "--seed", "1", env={"GRADER_SEED": "2"})) == by_option[0]


@pytest.mark.parametrize(("command", "purpose"), [
    (grade, "Grade notebooks"),
    (check, "public case"),
    (make_stub, "stub"),
])
def test_every_command_has_help(command, purpose):
    result = CliRunner().invoke(command, ["--help"])
    assert result.exit_code == 0
    assert purpose in result.output


def test_self_check_needs_no_solutions(tmp_path, monkeypatch):
    write(student_notebook(), tmp_path / "mine.ipynb")
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(check, ["mine.ipynb", "-v"], env=CLEAN_ENV)
    assert result.exit_code == 0, result.output
    assert "got" in result.stdout and "expected" in result.stdout
    assert "0.00804047" in result.stdout  # public values may be shown
    assert "hidden cases" in result.stdout
    assert "10/10" in result.stdout


def test_self_check_shows_the_wrong_step(tmp_path, monkeypatch):
    write(student_notebook(WRONG), tmp_path / "mine.ipynb")
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(check, ["mine.ipynb"], env=CLEAN_ENV)
    assert result.exit_code == 0, result.output
    assert "first wrong step: error" in result.stdout
    assert "-0.11502657" in result.stdout and "0.11502657" in result.stdout


def test_self_check_without_public_case_is_a_clear_error(tmp_path, monkeypatch):
    write(student_notebook(metadata=False), tmp_path / "mine.ipynb")
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(check, ["mine.ipynb"], env=CLEAN_ENV)
    assert result.exit_code == 2
    assert "public" in result.stderr
    assert result.exception is None or isinstance(result.exception, SystemExit)


SUBMISSION_KEYS = {"submission", "student", "status", "score", "max_score", "steps", "diagnoses", "messages"}
STEP_KEYS = {"name", "status", "score", "max_score", "cases_passed", "cases_total", "message"}


def test_json_document_shape(class_folder, tmp_path, run_grade):
    (tmp_path / "broken.ipynb").write_text("{", encoding="utf-8")
    run = run_grade(class_folder, tmp_path / "broken.ipynb", REFERENCE)
    doc = run.doc
    assert set(doc) == {"grader_version", "assignment", "max_score", "submissions"}
    assert doc["assignment"] == "backward_pass"
    assert isinstance(doc["grader_version"], str) and doc["max_score"] == 10
    assert len(doc["submissions"]) == 7
    for row in doc["submissions"]:
        assert SUBMISSION_KEYS <= set(row) <= SUBMISSION_KEYS | {"first_wrong_step", "adjustment"}
        assert row["adjustment"] is None  # no overrides.csv
        assert row["status"] in {"graded", "error", "timeout", "invalid"}
        assert [step["name"] for step in row["steps"]] == list(STEPS)
        for step in row["steps"]:
            assert STEP_KEYS <= set(step) <= STEP_KEYS | {"carried_forward"}
            assert step["status"] in {"pass", "fail", "missing", "not_run"}
        for diagnosis in row["diagnoses"]:
            assert set(diagnosis) == {"step", "misconception", "message"}
        assert all(isinstance(message, str) for message in row["messages"])
    assert {row["status"] for row in doc["submissions"]} == {"graded", "invalid"}


def test_json_goes_to_stdout_and_report_to_stderr(class_folder, run_grade):
    run = run_grade(class_folder / "dave.ipynb")
    assert run.doc is not None
    assert "dave" in run.stderr and "10/10" in run.stderr


def test_make_stub_check_detects_a_stale_stub(tmp_path):
    """Stubs are handed out: unlike reports (0600), they get the modes the umask gives (files.write_atomically)."""
    args = ["--solutions", str(SOLUTIONS), "--assignments", str(tmp_path)]
    previous = os.umask(0o022)
    try:
        assert CliRunner().invoke(make_stub, args, env=CLEAN_ENV).exit_code == 0
    finally:
        os.umask(previous)
    for written in (tmp_path / "backward_pass").iterdir():
        assert written.stat().st_mode & 0o777 == 0o644, written
    stub = tmp_path / "backward_pass" / "backward_pass.ipynb"
    stub.write_text(stub.read_text(encoding="utf-8").replace("TODO", "DONE"), encoding="utf-8")
    result = CliRunner().invoke(make_stub, [*args, "--check"], env=CLEAN_ENV)
    assert result.exit_code == 1
    assert "backward_pass.ipynb" in result.stderr


def test_quiet_prints_one_line_per_submission(class_folder):
    result = CliRunner().invoke(grade, [str(class_folder), "--solutions", str(SOLUTIONS), "--jobs", "2", "-q"], env=CLEAN_ENV)
    assert result.exit_code == 0
    lines = result.output.splitlines()
    for name in ("alice", "bob", "carol", "dave", "erin"):
        assert sum(line.startswith(f"{name} ") for line in lines) == 1, result.output
    assert "correct on all" not in result.output  # no per-step lines


def test_no_ansi_colours_when_not_a_terminal(class_folder):
    result = CliRunner().invoke(grade, [str(class_folder / "bob.ipynb"), "--solutions", str(SOLUTIONS), "--jobs", "1"],
                                env=CLEAN_ENV)
    assert result.exit_code == 0
    assert "\x1b[" not in result.output
