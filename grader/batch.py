"""Grading many notebooks: finding them, naming students, running them in parallel, in order."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

from grader import cases as case_builder
from grader import feedback, grading, notebook
from grader.assignment import Assignment, Rubric
from grader.errors import ConfigError
from grader.models import ERROR, INVALID, Case, Grade, Submission
from grader.sandbox.client import SCRATCH_BYTES, SandboxReply
from grader.sandbox.layers import Layer
from grader.sandbox.pipeline import Pipeline
from grader.store import GRADER_FAILURE

SKIPPED_FOLDERS = frozenset({".ipynb_checkpoints", "__MACOSX", "__pycache__", ".git"})
# Finished grades held back while an earlier submission is still running: bounds memory when a
# slow notebook holds up the stable order.
_MAX_AHEAD = 256


def _suspect(reply: SandboxReply) -> bool:
    """A reply the grader's side may have caused, retried once on a fresh server: the sandbox process
    died or hung, the runner failed, or time ran out (a starved machine, or a classmate's process
    slowing this one, look like an endless loop). A timeout that repeats is the submission's own."""
    document = reply.document or {}
    return bool(reply.failure or reply.timed_out or document.get("stopped") is not None or "internal" in document)


def find_submissions(paths: Iterable[Path], notebook_name: str | None = None) -> list[Submission]:
    """Every notebook named by `paths` (folders searched recursively), sorted, checkpoints skipped."""
    found: dict[Path, Submission] = {}
    stem = Path(notebook_name).stem if notebook_name else None
    for given in paths:
        if given.is_dir():
            base = given.resolve()
            # Any case of the extension (NOTEBOOK.IPYNB); hidden files (macOS `._x.ipynb`, editor
            # save copies) and hidden or checkpoint folders are skipped.
            for path in sorted(p for p in given.rglob("*") if p.suffix.lower() == ".ipynb"):
                relative = path.relative_to(given)
                if any(part in SKIPPED_FOLDERS or part.startswith(".") for part in relative.parts):
                    continue
                # Not only files: a dangling link or a folder named *.ipynb is a row too (status invalid).
                student = relative.parts[0] if len(relative.parts) > 1 else _student_of_file(path, stem)
                # rglob does not enter linked folders, so only a linked file can be found twice.
                key = path.resolve() if path.is_symlink() else base / relative
                found.setdefault(key, Submission(path, str(path), student))
        else:
            found.setdefault(given.resolve(), Submission(given, str(given), _student_of_file(given, stem)))
    return list(found.values())


def _student_of_file(path: Path, assignment_stem: str | None) -> str:
    """alice.ipynb -> alice; alice/<assignment's notebook>.ipynb (named like the assignment) -> alice."""
    folder = path.resolve().parent.name
    if assignment_stem and path.stem == assignment_stem and folder:
        return folder
    return path.stem


def resolve_assignment_name(available: list[str], requested: str | None, submissions: list[Submission]) -> str:
    """--assignment, else the name the notebooks' metadata agree on, else the only assignment."""
    if requested:
        return requested
    if len(available) == 1:
        return available[0]
    if not available:
        raise ConfigError("the solutions folder holds no assignment (no */rubric.toml)")
    named = set()
    for submission in submissions:
        try:
            named.add(notebook.read(submission.path).assignment)
        except notebook.InvalidNotebook:
            continue
    named.discard(None)
    if len(named) == 1:
        return named.pop()
    raise ConfigError(f"cannot tell which assignment to grade ({', '.join(available)}): pass --assignment NAME")


def rubric_with(rubric: Rubric, timeout: float | None) -> Rubric:
    """The rubric with the user's --timeout, keeping the inner budgets within it."""
    if timeout is None:
        return rubric
    limits = dataclasses.replace(
        rubric.limits,
        timeout=timeout,
        statement=min(rubric.limits.statement, timeout / 4),
        call=min(rubric.limits.call, timeout / 4),
    )
    return dataclasses.replace(rubric, limits=limits)


def sandbox_job(book: notebook.Notebook, rubric: Rubric, parameters: Iterable[str]) -> dict:
    """What the sandbox child needs to run a notebook: its cells, the function, the step names, the limits."""
    return {
        "cells": [{"index": cell.index, "source": cell.source} for cell in book.cells],
        "function": rubric.function,
        "parameters": list(parameters),
        "steps": list(rubric.step_names),
        "returns": list(rubric.returns),
        "iterations": list(rubric.iteration_steps),
        "updates": list(rubric.updates),
        "limits": rubric.limits.as_wire(),
    }


class Grader:
    """Grades submissions of one assignment against cases built once per run."""

    def __init__(self, assignment: Assignment, seed: int, jobs: int, timeout: float | None = None) -> None:
        self.assignment = assignment
        self.rubric = rubric_with(assignment.rubric, timeout)
        self.cases: list[Case] = case_builder.build(assignment, seed)
        self.feedback = feedback.load(assignment, self.cases)
        self.jobs = max(1, jobs)
        wire = [case_builder.case_to_wire(case) for case in self.cases]
        solutions = str(assignment.directory.parent.resolve())
        scratch = SCRATCH_BYTES + 2 * self.rubric.limits.output_bytes
        self._pipeline = Pipeline(wire, self.jobs, hidden=(solutions,), scratch_bytes=scratch)

    def layers(self, start: bool = True) -> tuple[Layer, ...] | None:
        """The sandbox layers in effect for this run's children (None if none ran and `start` is false)."""
        return self._pipeline.layers(start)

    def grade_all(self, submissions: Iterable[Submission],
                  known: Callable[[Submission], Grade | None] = lambda submission: None) -> Iterator[tuple[Grade, bool]]:
        """(grade, whether it was graded now) for each submission, in their order, whatever the number of jobs.

        `known` gives a grade already known (resumed or cached) or None; the others run in the
        fork servers, several at a time, and are judged here as their replies arrive.
        """
        ready: dict[int, tuple[Grade, bool]] = {}
        upcoming = enumerate(submissions)
        taken = emitted = 0
        exhausted = False
        while True:
            while not exhausted and self._pipeline.capacity > 0 and len(ready) < _MAX_AHEAD:
                item = next(upcoming, None)
                if item is None:
                    exhausted = True
                    break
                index, submission = item
                taken += 1
                cached = known(submission)
                prepared = self._prepare(submission) if cached is None else cached
                if isinstance(prepared, Grade):
                    ready[index] = (prepared, cached is None)
                else:
                    self._pipeline.submit((index, submission, prepared, False), prepared)
            while emitted in ready:
                yield ready.pop(emitted)
                emitted += 1
            if exhausted and emitted == taken:
                return
            if self._pipeline.in_flight:
                for done in self._pipeline.wait():
                    index, submission, job, retried = done.tag
                    if not retried and _suspect(done.reply):
                        self._pipeline.submit((index, submission, job, True), job, fresh=True)
                    else:
                        ready[index] = (self.judge(submission, done.reply), True)

    def grade(self, submission: Submission) -> Grade:
        return next(self.grade_all([submission]))[0]

    def _prepare(self, submission: Submission) -> Grade | dict:
        """The sandbox job for a submission, or its grade when there is nothing to run."""
        rubric = self.rubric
        try:
            book = notebook.read(submission.path)
        except notebook.InvalidNotebook as error:
            return grading.unjudged(submission, rubric, INVALID, [f"{submission.given} {error}"])
        if not book.cells:
            return grading.unjudged(submission, rubric, ERROR, [f"the notebook has no code cells, so no {rubric.function}()"])
        return sandbox_job(book, rubric, self.assignment.reference.parameters)

    def judge(self, submission: Submission, reply: SandboxReply) -> Grade:
        if reply.failure:
            message = (f"{GRADER_FAILURE}: {reply.failure}. It failed again on a new sandbox process; the next run "
                       "grades this submission again (it is neither cached nor resumed).")
            return grading.unjudged(submission, self.rubric, ERROR, [message], seconds=reply.seconds)
        try:
            return grading.judge(submission, self.rubric, self.cases, reply, self.assignment.reference,
                                 feedback=self.feedback)
        except Exception as error:  # one submission's row, never the end of the batch
            message = f"internal error of the grader while judging this submission ({type(error).__name__})"
            return grading.unjudged(submission, self.rubric, ERROR, [message])

    def close(self) -> None:
        self._pipeline.close()

    def __enter__(self) -> Grader:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()
