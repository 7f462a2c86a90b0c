"""The GitHub workflows parse, and the grading one keeps secrets away from student code."""

from __future__ import annotations

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


def test_grading_workflow_is_safe_for_forks():
    document = _load(ROOT / ".github" / "workflows" / "grade-pr.yml")
    assert list(document["on"]) == ["pull_request"]  # never pull_request_target, which hands forks the secrets
    steps = document["jobs"]["grade"]["steps"]
    with_secrets = [index for index, step in enumerate(steps) if "secrets." in yaml.safe_dump(step)]
    assert len(with_secrets) == 1
    secret_step = steps[with_secrets[0]]
    # Only actions/checkout (which runs no code of the pull request) comes before it.
    assert all(step.get("uses", "").startswith("actions/checkout@") for step in steps[: with_secrets[0]])
    assert "scripts/" not in secret_step["run"] and "pip" not in secret_step["run"]
    checkout = steps[0]
    assert checkout["with"]["persist-credentials"] is False
    grading = next(step for step in steps if "grade-pr.sh" in step.get("run", ""))
    assert "secrets." not in yaml.safe_dump(grading)
    assert grading["env"]["SANDBOX_LAYERS"] == "all" and grading["run"].startswith("sudo ")


def test_test_workflow_runs_the_suite():
    steps = _load(ROOT / ".github" / "workflows" / "tests.yml")["jobs"]["test"]["steps"]
    runs = " ".join(step.get("run", "") for step in steps)
    assert 'pip install -e ".[test]"' in runs and "ruff check" in runs
    assert "env -u GITHUB_ACTIONS -u GITHUB_STEP_SUMMARY pytest" in runs
