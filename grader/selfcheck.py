"""The student's self-check: the public case only, from the public case file, no solutions needed."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from grader import batch, judge, notebook, public_judgement
from grader.assignment import DEFAULT_LIMITS, Rubric, limits_within, public_case
from grader.assignment import cases as case_builder
from grader.errors import ConfigError
from grader.judge.evidence import ABSENT
from grader.models import FAIL, GRADED, INVALID, MISSING, PASS, Case, Grade, Limits, StepResult, Submission
from grader.report import json_report, terminal
from grader.report.summary import mistake_title
from grader.sandbox import spawned
from grader.sandbox.pipeline import Pipeline
from grader.sandbox.wire import SandboxReply
from grader.text import path_name, printable

HONEST_NOTE = ("This checked the public case only (the demo cell's inputs). Your grade also uses hidden "
               "cases with other shapes and values, so a step that is right here can still be wrong there.")
SAVED_NOTE = "It checked the notebook file as last saved: save the notebook before you run the check again."


REPAIR_HINT = ("Open it in Jupyter and save it again (File > Save Notebook), or download the course's notebook "
               "again and copy your code into it.")


class _Unreadable(Exception):
    """The notebook itself cannot be read: an `invalid` result, not a usage error."""


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
        if not submission.resolve().is_file():
            # Not a file at all (a FIFO, a device): the wrong thing was named, nothing to re-save.
            raise ConfigError(f"{path_name(submission)} {error}") from None
        raise _Unreadable(f"{path_name(submission)} {error}") from None
    metadata = node.get("metadata")
    tag = metadata.get(notebook.METADATA_KEY, {}) if isinstance(metadata, dict) else {}
    document = tag.get("public_case") if isinstance(tag, dict) else None
    if not isinstance(document, dict):
        raise ConfigError(f"{submission} carries no public case in its metadata (was it made from the course's stub?): "
                          "pass --public-case assignments/<assignment>/public_case.json")
    return document


@dataclasses.dataclass(frozen=True)
class Checked:
    """One notebook's self-check, with the assignment its public case names (None when it could not be read)."""

    grade: Grade
    assignment: str | None


def check_file(path: Path, explicit: Path | None, timeout: float) -> Checked:
    """`grade-check` on one notebook (`check_files`)."""
    return check_files([path], explicit, timeout)[0]


def check_files(paths: Sequence[Path], explicit: Path | None, timeout: float) -> list[Checked]:
    """`grade-check`: each notebook judged on its public case, read from --public-case or from the notebook itself.

    Notebooks with the same public case share one sandbox server. A notebook that cannot be read
    (broken JSON, not a notebook, its copy of the public case damaged) is `invalid`, with the way
    to repair it.
    """
    grades: dict[int, Checked] = {}
    groups: dict[str, tuple[dict, list[int]]] = {}
    for position, path in enumerate(paths):
        try:
            document = load_public_case(explicit, path)
        except _Unreadable as error:
            grades[position] = Checked(_invalid(path, str(error)), None)
            continue
        groups.setdefault(json.dumps(document, sort_keys=True), (document, []))[1].append(position)
    for document, positions in groups.values():
        try:
            checked = _check_group([paths[position] for position in positions], document, timeout)
        except ConfigError as error:
            if explicit is not None:
                raise
            # The copy inside the notebook is damaged (a hand edit of the file, a bad merge): the notebook is at fault.
            checked = [_invalid(paths[position], f"{path_name(paths[position])}: {error}") for position in positions]
        name = document.get("assignment")
        grades.update((position, Checked(grade, name if isinstance(name, str) else None))
                      for position, grade in zip(positions, checked))
    return [grades[position] for position in range(len(paths))]


def _invalid(path: Path, message: str) -> Grade:
    return Grade(Submission(path.resolve(), str(path), path.stem), INVALID, 0.0, 0.0, (), messages=(message, REPAIR_HINT))


def rubric_and_case(document: dict, timeout: float) -> tuple[Rubric, Limits, Case, list[str]]:
    """The grading rules and the single public case described by a public case document, with the run's limits."""
    rubric, case, parameters = public_case.read(document)
    return rubric, limits_within(DEFAULT_LIMITS, timeout), case, parameters


def _check_group(paths: Sequence[Path], document: dict, timeout: float) -> list[Grade]:
    """Judge notebooks on one public case, completed with its known mistakes (`public_judgement`), on one server."""
    rubric, limits, case, parameters = rubric_and_case(document, timeout)
    mistakes = public_case.read_mistakes(document)
    wire = [case_builder.case_to_wire(case)]
    with contextlib.ExitStack() as stack:
        pipeline = stack.enter_context(Pipeline(wire, 1)) if hasattr(os, "fork") else None
        grades = []
        for path in paths:
            # Named by the student on the command line: a link is followed.
            submission = Submission(path.resolve(), str(path), path.stem)
            job = batch.prepare(batch.load(submission), rubric, limits, parameters)
            if isinstance(job, Grade):
                grades.append(dataclasses.replace(job, messages=(*job.messages, REPAIR_HINT))
                              if job.status == INVALID else job)
                continue
            reply = pipeline.run(job) if pipeline is not None else spawned.run(job, wire)
            grade = judge.judge(submission, rubric, [case], reply, limits=limits, public_values=True)
            if pipeline is None:
                grade = dataclasses.replace(grade, messages=(*grade.messages, f"note: {spawned.MISSING_PROTECTIONS}"))
            found, exception = _public_values(reply, rubric, case)
            grades.append(grade if found is None else
                          public_judgement.complete(grade, rubric, case, found, mistakes, exception))
        return grades


def _public_values(reply: SandboxReply, rubric: Rubric, case: Case) -> tuple[dict | None, str | None]:
    """The student's decoded values of the public case by step, and what the function raised (None when it did not run)."""
    if reply.failure or reply.document is None:
        return None, None
    try:
        run = judge.parse(reply.document, rubric, [case])
    except judge.MalformedResult:
        return None, None
    if run.function != "defined" or not run.cases:
        return None, None
    values = {name: value for name, value in run.cases[0].values.items() if value is not ABSENT}
    return values, run.cases[0].exception


_MARKS = {PASS: ("pass", "green"), FAIL: ("WRONG", "red"), MISSING: ("missing", "red"),
          public_judgement.PENDING: ("grading", "yellow")}


def _mark(step: StepResult) -> str:
    word, colour = ("carried", "yellow") if step.carried_forward else _MARKS[step.status]
    return terminal.paint(f"{word:<7}", colour)


def report(grade: Grade, verbose: bool = False) -> str:
    """What the student reads: every step as the public case judges it, the named mistakes, then the honest notes.

    No score: the hidden cases decide it. Only the bound the public case proves is shown.
    """
    student = terminal.paint(printable(grade.submission.student), "bold")
    if grade.status != GRADED:
        lines = [f"{student}  {terminal.paint(grade.status, 'red')}  ({printable(grade.submission.given)})"]
        lines += [f"  {message}" for message in grade.messages]
        if verbose and grade.output.strip():
            lines += ["  printed by the notebook:"] + [f"    | {line}" for line in grade.output.rstrip().splitlines()[:40]]
        return "\n".join(lines)
    first = f"  first wrong step: {grade.first_wrong_step}" if grade.first_wrong_step else ""
    bound = f"at most {grade.score:g}/{grade.max_score:g} when graded"
    lines = [f"{student}  checked on the public case  ({bound}){first}  ({printable(grade.submission.given)})"]
    width = max(len(step.name) for step in grade.steps)
    for step in grade.steps:
        lines.append(f"  {_mark(step)}  {step.name:<{width}}  {step.message}")
        if step.public_got is not None and (verbose or step.status != PASS or step.carried_forward):
            lines.append(_indented("got (public case):      ", step.public_got))
            lines.append(_indented("expected (public case): ", step.public_expected or ""))
    messages = list(grade.messages)
    if not verbose:
        context = [m for m in messages if m.startswith(("warning:", "note:"))]
        messages = [m for m in messages if m not in context] + context[:3]
    lines += [f"  {message}" for message in messages]
    lines += [f"  {terminal.paint('mistake', 'cyan')} [{d.step}] {mistake_title(d.misconception)}: {d.message}"
              for d in grade.diagnoses]
    if verbose and grade.output.strip():
        lines += ["  printed by the notebook:"] + [f"    | {line}" for line in grade.output.rstrip().splitlines()[:40]]
    return "\n".join(lines) + "\n\n" + " ".join(_notes(grade))


def document(checked: Sequence[Checked]) -> dict:
    """The JSON of `grade-check --json`: `grade --json`'s document, its submission objects as
    `public_judgement.document` makes them (each naming its assignment when they differ)."""
    names = {item.assignment for item in checked}
    maxima = {item.grade.max_score for item in checked if item.grade.status != INVALID}
    one = len(names) == 1
    fields = json_report.head(next(iter(names)) if one else None, next(iter(maxima)) if one and len(maxima) == 1 else None)
    entries = [public_judgement.document(item.grade) | ({} if one else {"assignment": item.assignment})
               for item in checked]
    return fields | {"check": "public case", "submissions": entries}


def _notes(grade: Grade) -> list[str]:
    notes = [HONEST_NOTE]
    if any(step.status == public_judgement.PENDING for step in grade.steps):
        notes.append(f"Steps marked 'grading' come after {grade.first_wrong_step}, whose wrong value is not a mistake "
                     "the self-check knows: only grading can tell whether they are right given your "
                     f"{grade.first_wrong_step}. Fix the first wrong step first.")
    return notes


def _indented(label: str, text: str) -> str:
    pad = " " * (6 + len(label))
    body = text.splitlines() or [""]
    return "      " + label + body[0] + "".join("\n" + pad + line for line in body[1:])


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
    print(report(check_file(chosen, None, timeout).grade) + " " + SAVED_NOTE)


def _running_notebook() -> Path | None:
    named = [os.environ.get("JPY_SESSION_NAME"), getattr(sys.modules.get("__main__"), "__vsc_ipynb_file__", None)]
    for name in filter(None, named):
        # Jupyter Server 2 gives the full path; older servers a path relative to their root, but the
        # kernel runs in the notebook's own folder, so its file name is enough there.
        for candidate in (Path(name), Path.cwd() / Path(name).name):
            if candidate.suffix == ".ipynb" and candidate.is_file():
                return candidate
    return None
