"""The GitHub workflows parse, and the grading one keeps secrets away from student code."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from tests.notebooks import REPO as ROOT

WORKFLOWS = sorted((ROOT / ".github" / "workflows").glob("*.yml"))


def _load(path: Path) -> dict:
    document = yaml.safe_load(path.read_text())
    # YAML 1.1 reads the key `on` as True.
    document["on"] = document.pop(True, document.get("on"))
    return document


def test_there_are_workflows():
    assert {path.name for path in WORKFLOWS} >= {"grade-pr.yml", "tests.yml"}


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda path: path.name)
def test_workflow_parses(path):
    document = _load(path)
    assert document["name"] and document["on"] and document["jobs"]
    assert document["permissions"] == {"contents": "read"}
    for job in document["jobs"].values():
        assert job["runs-on"] and job["steps"]
        for step in job["steps"]:
            assert ("run" in step) != ("uses" in step)


def _grading_steps() -> list[dict]:
    return _load(ROOT / ".github" / "workflows" / "grade-pr.yml")["jobs"]["grade"]["steps"]


def test_grading_workflow_is_safe_for_forks():
    """`pull_request` only (never `pull_request_target`), one step with secrets, no token left in .git/config."""
    document = _load(ROOT / ".github" / "workflows" / "grade-pr.yml")
    assert list(document["on"]) == ["pull_request"]  # never pull_request_target, which hands forks the secrets
    steps = _grading_steps()
    with_secrets = [step for step in steps if "secrets." in yaml.safe_dump(step)]
    assert len(with_secrets) == 1
    assert "scripts/" not in with_secrets[0]["run"] and "pip" not in with_secrets[0]["run"]
    checkouts = [step for step in steps if step.get("uses", "").startswith("actions/checkout@")]
    assert len(checkouts) == 2 and all(step["with"]["persist-credentials"] is False for step in checkouts)


def test_tooling_comes_only_from_the_base_commit():
    """Trust model: the script run and the package installed come from the base commit (or a pinned release)."""
    steps = _grading_steps()
    trusted, pull_request = (next(step for step in steps if step.get("with", {}).get("path") == path)
                             for path in ("trusted", "pr"))
    assert trusted["with"]["ref"] == "${{ github.event.pull_request.base.sha }}"
    assert "ref" not in pull_request["with"]
    grading = next(step for step in steps if "grade-pr.sh" in step.get("run", ""))
    assert grading["run"].startswith("sudo ")
    assert grading["run"].endswith('bash "$GITHUB_WORKSPACE/trusted/scripts/grade-pr.sh"')
    assert grading["working-directory"] == "pr"
    assert grading["env"]["SANDBOX_LAYERS"] == "all"
    assert grading["env"]["GRADE"].startswith("${{ runner.temp }}/grader-venv/")
    assert grading["env"]["REPORTS_DIR"].startswith("${{ runner.temp }}/")  # never a folder of the PR's tree
    assert "secrets." not in yaml.safe_dump(grading)


def test_nothing_of_the_pull_request_is_installed_or_run():
    """Every `pip install` names the pinned package or the trusted checkout; no run step reads the PR's tree."""
    steps = _grading_steps()
    runs = [step["run"] for step in steps if "run" in step]
    installs = [line.split("pip install", 1)[1].split() for run in runs for line in run.splitlines()
                if "pip install" in line]
    assert installs and all(arguments in (['"$GRADER_PACKAGE"'], ["./trusted"]) for arguments in installs)
    install_step = next(step for step in steps if "pip install" in step.get("run", ""))
    assert install_step["env"]["GRADER_PACKAGE"] == "${{ vars.GRADER_PACKAGE }}"  # explicit: no default of "."
    for run in runs:
        assert not re.search(r"(^|[\s\"'/])pr/", run), run
        assert "scripts/" not in run or "trusted/scripts/" in run


def test_secrets_arrive_after_every_install_and_stay_off_command_lines():
    """The solutions are fetched after every install step, into a root-only folder; the seed never in argv."""
    steps = _grading_steps()
    fetch = next(index for index, step in enumerate(steps) if "secrets." in yaml.safe_dump(step))
    installs = [index for index, step in enumerate(steps)
                if "pip install" in step.get("run", "") or step.get("uses", "").startswith("actions/setup-python@")]
    grading = next(index for index, step in enumerate(steps) if "grade-pr.sh" in step.get("run", ""))
    assert installs and max(installs) < fetch == grading - 1
    script = steps[fetch]["run"]
    assert "install -d -m 0700 -o root" in script
    # Secrets only ever go through a builtin's pipe, never into a program's arguments.
    for line in script.splitlines():
        for secret in ("$SOLUTIONS_TARBALL", "$SEED"):
            if secret in line and "-z " not in line and "-n " not in line:
                assert line.strip().startswith(f"printf '%s' \"{secret}\" |"), line
    assert all("--seed" not in step.get("run", "") for step in steps)
    assert steps[grading]["env"]["GRADER_SEED_FILE"].startswith("${{ runner.temp }}/grader-secrets/")


def test_test_workflow_runs_the_suite():
    steps = _load(ROOT / ".github" / "workflows" / "tests.yml")["jobs"]["test"]["steps"]
    runs = " ".join(step.get("run", "") for step in steps)
    assert 'pip install -e ".[test]"' in runs and "ruff check" in runs
    assert "env -u GITHUB_ACTIONS -u GITHUB_STEP_SUMMARY pytest" in runs
