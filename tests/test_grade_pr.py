"""scripts/grade-pr.sh, the grading step of the pull-request workflow, run locally with fake GITHUB_* variables."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests import unprivileged
from tests.exports_support import NO_OUTER, commands_in
from tests.notebooks import REPO as ROOT
from tests.notebooks import SOLUTIONS, student_notebook, write

SCRIPT = ROOT / "scripts" / "grade-pr.sh"
GRADE = Path(sys.executable).parent / "grade"


def run_script(repo: Path, changed: list[str] | None, **extra: str) -> tuple[subprocess.CompletedProcess, str]:
    """Run the script in `repo` as the workflow does; `changed` replaces git diff when given."""
    summary = repo.parent / "step-summary.md"
    summary.write_text("")
    env = {
        "PATH": os.environ["PATH"], "HOME": str(repo.parent), "LANG": "C.UTF-8",
        "GITHUB_ACTIONS": "true", "GITHUB_STEP_SUMMARY": str(summary), "GITHUB_WORKSPACE": str(repo),
        "GITHUB_EVENT_NAME": "pull_request", "GITHUB_BASE_REF": "main", "RUNNER_TEMP": str(repo.parent),
        "GRADER_SOLUTIONS": str(SOLUTIONS), "GRADE": str(GRADE), "GRADER_JOBS": "2", "FAIL_UNDER": "100",
        # Rehearsals cannot count on every layer; `session` holds wherever the grader runs.
        "SANDBOX_LAYERS": "session",
    }
    if changed is not None:
        listing = repo.parent / "changed.txt"
        listing.write_text("".join(f"{path}\n" for path in changed))
        env["CHANGED_FILES"] = str(listing)
    env.update(extra)
    done = subprocess.run(["bash", str(SCRIPT)], cwd=repo, env=env, capture_output=True, text=True, timeout=120)
    return done, summary.read_text()


@pytest.fixture
def repo(tmp_path) -> Path:
    folder = tmp_path / "course"
    write(student_notebook(), folder / "submissions" / "alice" / "backward_pass.ipynb")
    write(student_notebook(), folder / "submissions" / "bob" / "backward_pass.ipynb")
    write(student_notebook(NO_OUTER), folder / "submissions" / "carol" / "backward_pass.ipynb")
    (folder / "README.md").write_text("course\n")
    return folder


def _annotations(output: str) -> dict[str, str]:
    """file -> level of the grader's annotations."""
    return {re.search(r"file=([^,]*)", line).group(1): line.split(" ")[0]
            for line in commands_in(output)}


def test_passing_class(repo):
    done, summary = run_script(repo, ["submissions/alice/backward_pass.ipynb", "submissions/bob/backward_pass.ipynb",
                                      "README.md", "submissions/gone/backward_pass.ipynb"])
    assert done.returncode == 0, done.stdout + done.stderr
    assert _annotations(done.stdout) == {"submissions/alice/backward_pass.ipynb": "::notice",
                                         "submissions/bob/backward_pass.ipynb": "::notice"}
    assert "2 submission(s), mean 10.00/10, 2 with full marks, 0 below the required 100%." in summary
    assert "| alice | 10/10 | graded |" in summary and "carol" not in summary
    assert (repo / "reports" / "junit.xml").is_file() and (repo / "reports" / "gradebook.csv").is_file()


def test_failing_class(repo):
    done, summary = run_script(repo, ["submissions/alice/backward_pass.ipynb", "submissions/carol/backward_pass.ipynb"])
    assert done.returncode == 1, done.stdout + done.stderr
    annotations = _annotations(done.stdout)
    assert annotations == {"submissions/alice/backward_pass.ipynb": "::notice",
                           "submissions/carol/backward_pass.ipynb": "::error"}
    assert "1 below the required 100%" in summary and "<summary>carol: 9/10" in summary
    assert "delta%5Fw" not in done.stdout and "delta_w_i_h" in done.stdout


def test_threshold_is_configurable(repo):
    done, _ = run_script(repo, ["submissions/carol/backward_pass.ipynb"], FAIL_UNDER="90")
    assert done.returncode == 0, done.stdout + done.stderr
    assert _annotations(done.stdout) == {"submissions/carol/backward_pass.ipynb": "::warning"}


def test_nothing_changed(repo):
    done, summary = run_script(repo, ["README.md", "submissions/.ipynb_checkpoints/x.ipynb"])
    assert done.returncode == 0
    assert "nothing to grade" in summary and not (repo / "reports").exists()


def test_missing_solutions_is_a_configuration_error(repo):
    done, _ = run_script(repo, ["submissions/alice/backward_pass.ipynb"], GRADER_SOLUTIONS=str(repo / "nowhere"))
    assert done.returncode == 2 and done.stdout.startswith("::error title=Grading is not set up::")


def test_changed_notebooks_from_git(repo):
    def git(*arguments: str) -> None:
        subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@example.com", *arguments], cwd=repo,
                       check=True, capture_output=True)

    git("init", "-q", "-b", "main")
    git("add", "README.md", "submissions/alice")
    git("commit", "-q", "-m", "base")
    git("add", ".")
    git("commit", "-q", "-m", "pull request")
    done, summary = run_script(repo, None)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "2 submission(s)" in summary
    assert set(_annotations(done.stdout)) == {"submissions/bob/backward_pass.ipynb", "submissions/carol/backward_pass.ipynb"}


# Student code that writes straight into the grader's stdout and stderr through /proc. Whether
# that lands depends on the sandbox layers active (it does as root without them); either way the
# script's filter must leave nothing a runner would read as a command.
PROC_CELL = r'''
import os
server = os.getppid()
with open(f"/proc/{server}/status") as status:
    grader = int(next(line for line in status if line.startswith("PPid:")).split()[1])
for target in (f"/proc/{server}/fd/2", f"/proc/{grader}/fd/1", f"/proc/{grader}/fd/2"):
    try:
        with open(target, "a") as stream:
            stream.write("::add-mask::via-proc\n::stop-commands::token\n")
    except OSError:
        pass
print("::set-output name=x::y")
'''


def test_student_output_never_becomes_a_workflow_command(repo):
    path = "submissions/::add-mask::mallory/backward_pass.ipynb"
    write(student_notebook('raise ValueError("\\n::stop-commands::token\\n##[add-mask]x")', extra_cells=(PROC_CELL,)),
          repo / path)
    done, summary = run_script(repo, [path, "submissions/alice/backward_pass.ipynb"], GRADE=f"{GRADE} -v")
    assert "mallory" in summary and "::" not in summary
    assert done.returncode == 1, done.stdout + done.stderr
    assert set(_annotations(done.stdout + done.stderr)) == {"submissions/%3A%3Aadd-mask%3A%3Amallory/backward_pass.ipynb",
                                                            "submissions/alice/backward_pass.ipynb"}
    assert "token" in done.stdout  # shown, defused


def _hostile_tooling(repo: Path, marker: Path) -> None:
    """The pull request's own tree brings its own script, grader package, build backend and start-up hooks."""
    touch = f"open({str(marker)!r}, 'a').write('ran\\n')\n"
    (repo / "scripts").mkdir()
    (repo / "scripts" / "grade-pr.sh").write_text(f"#!/bin/sh\necho ran >> '{marker}'\n")
    (repo / "grader").mkdir()
    for name in ("__init__.py", "__main__.py", "cli.py"):
        (repo / "grader" / name).write_text(touch)
    (repo / "pyproject.toml").write_text('[build-system]\nrequires = []\nbuild-backend = "backend"\n'
                                         'backend-path = ["."]\n')
    (repo / "backend.py").write_text(touch)
    for name in ("sitecustomize.py", "usercustomize.py"):
        (repo / name).write_text(touch)


@pytest.mark.parametrize("grade", [str(GRADE), f"{sys.executable} -m grader"], ids=["console-script", "python-m"])
def test_the_pull_requests_own_tooling_never_runs(repo, tmp_path, grade):
    """Trust model: the PR's tree is data; its script, grader/, build backend and site hooks never execute.

    `python -m` puts the working directory (the PR's checkout) first on sys.path; the script's
    PYTHONSAFEPATH keeps the trusted grader in charge whichever way `grade` is invoked.
    """
    marker = tmp_path / "pwned"
    _hostile_tooling(repo, marker)
    done, summary = run_script(repo, ["submissions/alice/backward_pass.ipynb", "scripts/grade-pr.sh",
                                      "grader/__init__.py", "pyproject.toml"], GRADE=grade)
    assert done.returncode == 0, done.stdout + done.stderr
    assert not marker.exists()
    assert "| alice | 10/10 | graded |" in summary


def test_symlinked_submissions_are_never_followed(repo, tmp_path):
    """Submissions must be regular files reached through real folders of submissions/: links and `..` are skipped.

    A link to the reference notebook would otherwise be graded 10/10 and its feedback would show
    the reference code; a folder link or `..` would lead out of the tree.
    """
    reference = SOLUTIONS / "backward_pass" / "backward_pass.ipynb"
    outside = tmp_path / "outside"
    write(student_notebook(), outside / "backward_pass.ipynb")
    (repo / "submissions" / "mallory").mkdir()
    (repo / "submissions" / "mallory" / "backward_pass.ipynb").symlink_to(reference)
    (repo / "submissions" / "trudy").symlink_to(reference.parent, target_is_directory=True)
    (repo / "submissions" / "eve").symlink_to(outside, target_is_directory=True)
    changed = ["submissions/mallory/backward_pass.ipynb", "submissions/trudy/backward_pass.ipynb",
               "submissions/eve/backward_pass.ipynb", "submissions/../outside/backward_pass.ipynb",
               "submissions/alice/backward_pass.ipynb"]
    (repo / "outside").symlink_to(outside, target_is_directory=True)
    done, summary = run_script(repo, changed)
    assert done.returncode == 0, done.stdout + done.stderr
    assert set(_annotations(done.stdout)) == {"submissions/alice/backward_pass.ipynb"}
    for path in changed[:4]:
        assert f"Skipped {path}: not a regular file inside submissions/" in done.stdout
    reports = "".join(path.read_text(errors="replace") for path in (repo / "reports").rglob("*") if path.is_file())
    for text in (summary, reports, done.stdout, done.stderr):
        assert "# SOLUTION" not in text and "mallory" not in text.replace("Skipped submissions/mallory", "")
    assert "1 submission(s)" in summary


def test_a_reports_symlink_is_refused(repo, tmp_path):
    """The reports folder is written as root: a link planted in its place is refused, never written through."""
    target = tmp_path / "elsewhere"
    target.mkdir()
    (repo / "reports").symlink_to(target, target_is_directory=True)
    done, _ = run_script(repo, ["submissions/alice/backward_pass.ipynb"])
    assert done.returncode == 2 and "is a symlink" in done.stdout
    assert list(target.iterdir()) == []


@pytest.mark.skipif(unprivileged.unavailable() is not None, reason=str(unprivileged.unavailable()))
def test_pr_guarantees_hold_unprivileged():
    """The tooling, symlink and reports-link guarantees again as uid 65534 (a runner's ordinary user)."""
    done = unprivileged.run_unprivileged(
        f"{Path(__file__)}::test_the_pull_requests_own_tooling_never_runs",
        f"{Path(__file__)}::test_symlinked_submissions_are_never_followed",
        f"{Path(__file__)}::test_a_reports_symlink_is_refused")
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "4 passed" in done.stdout
