"""The student's self-check: the public case only, from the public case file, no solutions needed."""

from __future__ import annotations

import dataclasses
import json
import os
import sys
from pathlib import Path

from grader import batch, judge, notebook
from grader.assignment import DEFAULT_LIMITS, Rubric, limits_within, public_case
from grader.assignment import cases as case_builder
from grader.errors import ConfigError
from grader.models import FAIL, Case, Grade, Limits, Submission
from grader.report import terminal
from grader.sandbox import spawned
from grader.sandbox.pipeline import Pipeline
from grader.text import path_name

HONEST_NOTE = ("This checked the public case only (the demo cell's inputs). Your grade also uses hidden "
               "cases with other shapes and values, so a step that is right here can still be wrong there.")
SAVED_NOTE = "It checked the notebook file as last saved: save the notebook before you run the check again."


def load_public_case(explicit: Path | None, submission: Path) -> dict:
    """The public case: from --public-case, else the copy in the notebook's metadata."""
    if explicit is not None:
        try:
            return json.loads(explicit.read_text(encoding="utf-8"))
        except (OSError, ValueError) as error:
            raise ConfigError(f"cannot read the public case file {explicit}: {error}") from None
    try:
        node, _ = notebook.read_data(submission.resolve())  # named by the student on the command line: followed
    except notebook.InvalidNotebook as error:
        raise ConfigError(f"{path_name(submission)} {error}") from None
    tag = node.get("metadata", {}).get(notebook.METADATA_KEY, {})
    document = tag.get("public_case") if isinstance(tag, dict) else None
    if not isinstance(document, dict):
        raise ConfigError(f"{submission} carries no public case in its metadata (was it made from the course's stub?): "
                          "pass --public-case assignments/<assignment>/public_case.json")
    return document


def rubric_and_case(document: dict, timeout: float) -> tuple[Rubric, Limits, Case, list[str]]:
    """The grading rules and the single public case described by a public case document, with the run's limits."""
    rubric, case, parameters = public_case.read(document)
    return rubric, limits_within(DEFAULT_LIMITS, timeout), case, parameters


def check(path: Path, document: dict, timeout: float) -> Grade:
    """Grade one notebook on the public case only."""
    rubric, limits, case, parameters = rubric_and_case(document, timeout)
    # Named by the student on the command line: a link is followed.
    submission = Submission(path.resolve(), str(path), path.stem)
    job = batch.prepare(batch.load(submission), rubric, limits, parameters)
    if isinstance(job, Grade):
        return job
    wire = [case_builder.case_to_wire(case)]
    if hasattr(os, "fork"):
        with Pipeline(wire, 1) as pipeline:
            reply = pipeline.run(job)
        return judge.judge(submission, rubric, [case], reply, limits=limits, public_values=True)
    grade = judge.judge(submission, rubric, [case], spawned.run(job, wire), limits=limits, public_values=True)
    return dataclasses.replace(grade, messages=(*grade.messages, f"note: {spawned.MISSING_PROTECTIONS}"))


def report(grade: Grade) -> str:
    """What the student reads: every step with its got and expected values, then the honest notes."""
    notes = [HONEST_NOTE]
    names = [step.name for step in grade.steps]
    if grade.first_wrong_step and any(step.status == FAIL for step in grade.steps[names.index(grade.first_wrong_step) + 1:]):
        # Without the solutions there is no error carried forward: later steps are compared as they are.
        notes.append(f"Steps after {grade.first_wrong_step} are compared with the expected values as they are, so they "
                     "may look wrong only because of it: fix the first wrong step first.")
    return terminal.render(grade, terminal.VERBOSE) + "\n\n" + " ".join(notes)


def notebook_check(path: str | os.PathLike | None = None, timeout: float = 10.0) -> None:
    """The self-check from inside Jupyter: `from grader import selfcheck; selfcheck.notebook_check()`.

    It checks the notebook file as last saved, in a sandbox like `grade-check`. The running
    notebook is found from what Jupyter tells the kernel (JPY_SESSION_NAME from Jupyter Server 2,
    __vsc_ipynb_file__ in VS Code); where that is missing, pass the path.
    """
    chosen = Path(path) if path is not None else _running_notebook()
    if chosen is None:
        raise ConfigError("cannot tell which notebook is running here: "
                          "call notebook_check('<your notebook>.ipynb') with your notebook's file name")
    grade = check(chosen, load_public_case(None, chosen), timeout)
    print(report(grade) + " " + SAVED_NOTE)


def _running_notebook() -> Path | None:
    named = [os.environ.get("JPY_SESSION_NAME"), getattr(sys.modules.get("__main__"), "__vsc_ipynb_file__", None)]
    for name in filter(None, named):
        # Jupyter Server 2 gives the full path; older servers a path relative to their root, but the
        # kernel runs in the notebook's own folder, so its file name is enough there.
        for candidate in (Path(name), Path.cwd() / Path(name).name):
            if candidate.suffix == ".ipynb" and candidate.is_file():
                return candidate
    return None
