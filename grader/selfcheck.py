"""The student's self-check: the public case only, from the public case file, no solutions needed."""

from __future__ import annotations

import dataclasses
import json
import os
import sys
from pathlib import Path

import numpy as np

from grader import batch, judge, notebook
from grader import cases as case_builder
from grader.assignment import Rubric
from grader.errors import ConfigError
from grader.models import ERROR, FAIL, FINAL, INVALID, Case, Grade, Limits, Step, Submission, Tolerance, Words
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
        node, _ = notebook.read_node(submission.resolve())  # named by the student on the command line: followed
    except notebook.InvalidNotebook as error:
        raise ConfigError(f"{path_name(submission)} {error}") from None
    tag = node.get("metadata", {}).get(notebook.METADATA_KEY, {})
    document = tag.get("public_case") if isinstance(tag, dict) else None
    if not isinstance(document, dict):
        raise ConfigError(f"{submission} carries no public case in its metadata (was it made from the course's stub?): "
                          "pass --public-case assignments/<assignment>/public_case.json")
    return document


def rubric_and_case(document: dict, timeout: float) -> tuple[Rubric, Case, list[str]]:
    """The grading rules and the single public case described by a public case document."""
    try:
        steps = tuple(Step(str(s["name"]), float(s["points"]), str(s.get("hint", "")), str(s.get("capture", FINAL)))
                      for s in document["steps"])
        iteration = document.get("iteration", ["iteration"])
        rubric = Rubric(
            title=str(document["title"]), notebook="", function=str(document["function"]),
            returns=tuple(document["returns"]), steps=steps,
            tolerance=Tolerance(float(document["tolerance"]["rtol"]), float(document["tolerance"]["atol"])),
            carried_forward_credit=1.0, seed=0, hidden_cases=0, cases_module="",
            limits=Limits(timeout=timeout, statement=min(1.0, timeout / 4), call=min(2.0, timeout / 4)),
            iteration=tuple(str(word) for word in iteration), updates=tuple(str(name) for name in document.get("updates", [])),
            words=Words(**{key: str(value) for key, value in document.get("words", {}).items()
                           if key in ("unit", "row", "column")}),
        )
        positions = {str(name): tuple(tuple(int(number) for number in position) for position in listed)
                     for name, listed in document.get("positions", {}).items()}
        arguments = {name: case_builder.from_wire(value) for name, value in document["arguments"].items()}
        expected = {name: np.array(value, dtype=np.float64) for name, value in document["expected"].items()}
        parameters = [str(name) for name in document["parameters"]]
    except (KeyError, TypeError, ValueError) as error:
        raise ConfigError(f"the public case document is malformed ({error})") from None
    return rubric, Case("public", "the demo cell's inputs", True, arguments, expected, positions=positions), parameters


def check(path: Path, document: dict, timeout: float) -> Grade:
    """Grade one notebook on the public case only."""
    rubric, case, parameters = rubric_and_case(document, timeout)
    submission = Submission(path, str(path), path.stem)
    try:
        book = notebook.read(path.resolve())  # named by the student on the command line: a link is followed
    except notebook.InvalidNotebook as error:
        return judge.unjudged(submission, rubric, INVALID, [f"{path} {error}"])
    if not book.cells:
        return judge.unjudged(submission, rubric, ERROR, [f"the notebook has no code cells, so no {rubric.function}()"])
    wire = [case_builder.case_to_wire(case)]
    job = batch.sandbox_job(book, rubric, parameters)
    if hasattr(os, "fork"):
        with Pipeline(wire, 1) as pipeline:
            reply = pipeline.run(job)
        return judge.judge(submission, rubric, [case], reply, public_values=True)
    grade = judge.judge(submission, rubric, [case], spawned.run(job, wire), public_values=True)
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
