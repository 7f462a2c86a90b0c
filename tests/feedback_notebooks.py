"""The real CLI for the feedback tests, which build their notebooks with tests.notebooks."""

from __future__ import annotations

import json
import traceback
from pathlib import Path

from click.testing import CliRunner

from grader.cli import grade
from tests.notebooks import SOLUTIONS


def run_grade(*args: object, solutions: Path = SOLUTIONS) -> tuple[int, dict | None, str]:
    """`grade ARGS --solutions <repo's> --jobs 2 --json -`: (exit code, JSON document, stderr)."""
    argv = [str(arg) for arg in args] + ["--solutions", str(solutions), "--jobs", "2", "--json", "-"]
    result = CliRunner().invoke(grade, argv, env={"GRADER_SEED": None, "GRADER_SOLUTIONS": None})
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise AssertionError("grade raised:\n" + "".join(traceback.format_exception(result.exception)))
    try:
        document = json.loads(result.stdout)
    except ValueError:
        document = None
    return result.exit_code, document, result.stderr


def by_student(document: dict) -> dict[str, dict]:
    return {row["student"]: row for row in document["submissions"]}
