"""grade-gradescope: the autograder zip, unpacked into a scratch /autograder, grades a submission."""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest
from click.testing import CliRunner

from grader import cli
from tests.exports_support import CLEAN_ENV, NO_OUTER, check_gradescope_document
from tests.notebooks import REFERENCE_BODY, SOLUTIONS, student_notebook, write


@pytest.fixture(scope="module")
def autograder_zip(tmp_path_factory) -> Path:
    output = tmp_path_factory.mktemp("zip") / "autograder.zip"
    build = ["build", "--solutions", str(SOLUTIONS), "--assignment", "backward_pass", "-o", str(output)]
    result = CliRunner().invoke(cli.gradescope_autograder, build,
                                env=CLEAN_ENV, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return output


def test_zip_contents(autograder_zip):
    with zipfile.ZipFile(autograder_zip) as archive:
        names = archive.namelist()
        modes = {info.filename: stat.S_IMODE(info.external_attr >> 16) for info in archive.infolist()}
        package = next(name for name in names if name.startswith("package/"))
        sdist = archive.read(package)
    assert {"setup.sh", "run_autograder", "solutions/backward_pass/rubric.toml",
            "solutions/backward_pass/backward_pass.ipynb", "solutions/backward_pass/cases.py"} <= set(names)
    assert modes["setup.sh"] == modes["run_autograder"] == 0o755
    assert package.endswith(".tar.gz")
    scratch = autograder_zip.parent / "sdist.tar.gz"
    scratch.write_bytes(sdist)
    with tarfile.open(scratch) as tar:
        members = tar.getnames()
    assert any(name.endswith("/pyproject.toml") for name in members)
    assert any(name.endswith("/grader/autograder.py") for name in members)
    assert not any("/solutions/" in name or "/tests/" in name for name in members)


def _rehearse(autograder_zip: Path, root: Path, notebooks: dict[str, str]) -> subprocess.CompletedProcess:
    """Unpack as Gradescope does, skip setup.sh (this venv has the grader), run run_autograder."""
    for folder in ("source", "submission", "results"):
        (root / folder).mkdir(parents=True)
    with zipfile.ZipFile(autograder_zip) as archive:
        archive.extractall(root / "source")
    for name, body in notebooks.items():
        write(student_notebook(body), root / "submission" / name)
    shutil.copy(root / "source" / "run_autograder", root / "run_autograder")
    env = {"PATH": os.environ["PATH"], "HOME": str(root), "AUTOGRADER_ROOT": str(root), "GRADER_PYTHON": sys.executable}
    return subprocess.run(["bash", str(root / "run_autograder")], cwd=root, env=env, capture_output=True, text=True,
                          timeout=120)


def test_run_autograder_writes_results(autograder_zip, tmp_path):
    done = _rehearse(autograder_zip, tmp_path / "autograder", {"backward_pass.ipynb": NO_OUTER})
    assert done.returncode == 0, done.stdout + done.stderr
    document = json.loads((tmp_path / "autograder" / "results" / "results.json").read_text())
    check_gradescope_document(document)
    assert document["score"] == 9.0
    assert any(test["visibility"] == "after_due_date" for test in document["tests"])


def test_run_autograder_picks_the_assignment_notebook(autograder_zip, tmp_path):
    done = _rehearse(autograder_zip, tmp_path / "autograder",
                     {"backward_pass.ipynb": REFERENCE_BODY, "scratch.ipynb": NO_OUTER})
    assert done.returncode == 0, done.stdout + done.stderr
    assert json.loads((tmp_path / "autograder" / "results" / "results.json").read_text())["score"] == 10.0


def test_run_autograder_without_a_clear_notebook(autograder_zip, tmp_path):
    done = _rehearse(autograder_zip, tmp_path / "autograder", {"one.ipynb": REFERENCE_BODY, "two.ipynb": REFERENCE_BODY})
    assert done.returncode == 0, done.stdout + done.stderr
    document = json.loads((tmp_path / "autograder" / "results" / "results.json").read_text())
    check_gradescope_document(document)
    assert document["score"] == 0.0
    assert "Submit one notebook named backward_pass.ipynb (notebooks found: one.ipynb, two.ipynb)" in document["output"]


def test_build_without_solutions_is_a_usage_error(tmp_path):
    result = CliRunner().invoke(cli.gradescope_autograder, ["build", "--solutions", str(tmp_path / "none")], env=CLEAN_ENV)
    assert result.exit_code == 2 and "solutions folder" in result.output


def test_every_gradescope_command_has_help():
    for arguments in ([], ["build"], ["run"]):
        result = CliRunner().invoke(cli.gradescope_autograder, [*arguments, "--help"])
        assert result.exit_code == 0 and len(result.output.split("\n\n")[1].strip()) > 20
