"""Grading many notebooks: finding them, naming students, running them in parallel, in order."""

from __future__ import annotations

import dataclasses
import functools
import gc
import os
from collections.abc import Callable, Iterable, Iterator, Mapping, Sized
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING

from grader import notebook, selfcheck_cell
from grader.assignment import Assignment, Rubric
from grader.assignment.stub import starting_cells
from grader.errors import ConfigError
from grader.intake import duplicates
from grader.models import ERROR, INVALID, Case, Grade, Limits, Submission
from grader.sandbox.wire import Job, SandboxReply, Stub
from grader.store import GRADER_FAILURE

if TYPE_CHECKING:
    from grader.judge.feedback import Feedback
    from grader.judge.verdicts import Remembered
    from grader.sandbox.layers import Layer
    from grader.sandbox.pipeline import Pipeline

# The judge and the cases (numpy) are imported where a submission first needs them: a re-grade served wholly from
# the cache or the results log loads neither.

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


@dataclass(frozen=True, slots=True)
class Found:
    """A notebook found, before it is known which assignment it is for (that may rename its student)."""

    submission: Submission
    """Its student id told without an assignment: the folder under the given one, else the file's name."""
    named_by: str | None
    """The path whose file name told the student id (the notebook was given itself, or lies right in a given
    folder), as text; None when the folder under the given one did."""
    alias: str | None = None
    """The student id of a file found without a folder of its own in a class zip, if it is named as the
    assignment's notebook: the zip's (or its one enclosing folder's) name."""

    def named(self, notebook_name: str | None) -> Submission:
        """The submission with its student id once the assignment's notebook name is known:
        alice/<assignment's notebook>.ipynb belongs to alice."""
        if self.alias is not None and notebook_name and self.submission.path.name == notebook_name:
            return dataclasses.replace(self.submission, student=self.alias)
        if self.named_by is None or not notebook_name:
            return self.submission
        return dataclasses.replace(self.submission, student=_student_of_file(self.named_by, Path(notebook_name).stem))


def discover(paths: Iterable[Path]) -> list[Found]:
    """Every notebook named by `paths` (folders searched recursively), sorted, checkpoints skipped.

    Inside a folder nothing is followed: an entry named *.ipynb that is not a regular file (a
    symbolic link, a FIFO, a device, a folder) and a symbolic link to a folder are rows of their
    own, which reading turns into `invalid` with the reason; a link is never a way out of the tree
    nor a second copy of a classmate's notebook. A path named on the command line is the user's
    choice and is followed (a link to a folder or to a notebook).
    """
    # Text, not Path objects, for the thousands of entries of a class: a Path interns each of its parts, and the
    # table of interned strings never shrinks back.
    found: dict[str, Found] = {}
    for given in paths:
        if given.is_dir():
            base = str(given.resolve())
            for parts in sorted(_entries(base)):
                path = os.path.join(base, *parts)
                named_by = None if len(parts) > 1 else path
                student = parts[0] if named_by is None else _student_of_file(named_by, None)
                found.setdefault(path, Found(Submission(path, _joined(given, parts), student), named_by))
        elif given.suffix.lower() == ".zip":  # a class zip from Canvas, Moodle or Gradescope (a notebook never is)
            # Imported for a zip only: zipfile, lzma and the rest cost every other run's start about 5 ms.
            from grader.intake import zips

            for submission, alias in zips.submissions(given):
                found.setdefault(submission.location, Found(submission, None, alias))
        else:
            # Read where the link points; named (student id) as the user named it.
            target, named_by = given.resolve(), os.path.abspath(given)
            found.setdefault(str(target), Found(Submission(target, str(given), _student_of_file(named_by, None)),
                                                named_by))
    return list(found.values())


def find_submissions(paths: Iterable[Path], notebook_name: str | None = None) -> list[Submission]:
    """Every notebook named by `paths` (see `discover`), students named knowing the assignment's notebook."""
    return [found.named(notebook_name) for found in discover(paths)]


def _entries(base: str) -> Iterator[tuple[str, ...]]:
    """The parts of the path, relative to `base`, of every entry to grade under it: without following a link.

    Any case of the extension (NOTEBOOK.IPYNB); hidden files (macOS `._x.ipynb`, editor save
    copies) and hidden or checkpoint folders are skipped. A loop, not recursion: a folder nested
    thousands deep is walked like any other. (Sorted, the parts give the order of the paths as Paths sort.)
    """
    pending: list[tuple[str, ...]] = [()]
    while pending:
        relative = pending.pop()
        try:
            with os.scandir(os.path.join(base, *relative)) as scan:
                entries = list(scan)
        except OSError:
            continue  # an unreadable folder holds nothing we could grade
        for entry in entries:
            if entry.name.startswith(".") or entry.name in SKIPPED_FOLDERS:
                continue
            path = (*relative, entry.name)
            is_notebook = entry.name.lower().endswith(".ipynb")
            if entry.is_symlink():
                if is_notebook or os.path.isdir(entry.path):
                    yield path
            elif entry.is_dir(follow_symlinks=False):
                if is_notebook:
                    yield path
                pending.append(path)
            elif is_notebook:
                yield path


def _joined(given: Path, parts: tuple[str, ...]) -> str:
    """str(given.joinpath(*parts)) for the names of entries under `given`, without making a Path of it: a Path
    interns each part, and the interpreter's table of interned strings grows with the class and never shrinks."""
    text = str(given)
    return os.path.join(*parts) if text == "." else os.path.join(text, *parts)


def _student_of_file(path: str, assignment_stem: str | None) -> str:
    """alice.ipynb -> alice; alice/<assignment's notebook>.ipynb (named like the assignment) -> alice.

    `path` is absolute and normalised; its stem is taken as Path.stem takes it (text here, for the reason `_joined`
    gives)."""
    folder, name = os.path.split(path)
    dot = name.rfind(".")
    stem = name[:dot] if 0 < dot < len(name) - 1 else name
    if assignment_stem and stem == assignment_stem and os.path.basename(folder):
        return os.path.basename(folder)
    return stem


def resolve_assignment_name(available: list[str], requested: str | None) -> str:
    """--assignment, else the only assignment (grading splits a class by notebook: grader/routing.py)."""
    if requested:
        return requested
    if len(available) == 1:
        return available[0]
    if not available:
        raise ConfigError("the solutions folder holds no assignment (no */rubric.toml)")
    raise ConfigError(f"several assignments here ({', '.join(available)}): pass --assignment NAME")


def sandbox_job(book: notebook.Notebook, rubric: Rubric, limits: Limits, parameters: Iterable[str]) -> Job:
    """What the sandbox child needs to run a notebook: its cells, the function, the step names, the limits."""
    return Job(
        # The course's self-check cell is left out: run in the sandbox it could only warn (grader/selfcheck_cell.py).
        cells=[{"index": cell.index, "source": cell.source} for cell in book.cells
               if not selfcheck_cell.is_self_check(cell.source)],
        function=rubric.function,
        parameters=list(parameters),
        steps=list(rubric.step_names),
        returns=list(rubric.returns),
        iterations=list(rubric.iteration_steps),
        updates=list(rubric.updates),
        limits=limits.as_wire(),
    )


@dataclass(frozen=True)
class Loaded:
    """A submission's bytes, read once: the same bytes are hashed (cache key) and parsed (grading)."""

    submission: Submission
    raw: bytes
    """The file's bytes; empty when it could not be read."""
    problem: str | None
    """Why the file is not read (a link, a FIFO, too large...), or None."""
    digest: str
    """SHA-256 of the bytes, or of the reason they were not read (an unreadable file is graded too)."""


def load(submission: Submission) -> Loaded:
    """The submission's bytes and their digest, from one read."""
    try:
        if submission.problem is not None:
            raise notebook.InvalidNotebook(submission.problem)
        raw = notebook.read_bytes(submission.path)
    except notebook.InvalidNotebook as error:
        reason = f"unreadable: {error}".encode("utf-8", "backslashreplace")
        return Loaded(submission, b"", str(error), duplicates.digest(reason, submission))
    return Loaded(submission, raw, None, duplicates.digest(raw, submission))


def prepare(loaded: Loaded, rubric: Rubric, limits: Limits, parameters: Iterable[str]) -> Grade | Job:
    """The sandbox job for a submission, or its grade when there is nothing to run (unreadable, no code)."""
    from grader import judge

    submission = loaded.submission
    try:
        if loaded.problem is not None:
            raise notebook.InvalidNotebook(loaded.problem)
        book = notebook.parse(loaded.raw)
    except notebook.InvalidNotebook as error:
        return judge.unjudged(submission, rubric, INVALID, [f"{submission.given} {error}"])
    if not book.cells:
        return judge.unjudged(submission, rubric, ERROR, [f"the notebook has no code cells, so no {rubric.function}()"])
    return sandbox_job(book, rubric, limits, parameters)


# Young objects a cyclic collection waits for (Python's default is 700): judging a submission makes thousands,
# nearly all freed at once by their counts.
_YOUNG_OBJECTS = 10_000


def _settle_collector() -> tuple[tuple[int, ...], bool]:
    """Once the run's lasting objects exist (the modules, the reference, the cases, the catalogue and oracle): the
    cyclic garbage collector does not walk them again, and it runs every `_YOUNG_OBJECTS` new objects, not 700.
    Returns what `_restore_collector` puts back: the thresholds, and whether nothing was frozen before.

    A 400-notebook class: the grader's collections took 55 ms, now 11; its CPU 4 % less (12 paired runs).
    """
    found = gc.get_threshold(), gc.get_freeze_count() == 0
    gc.freeze()
    gc.set_threshold(max(found[0][0], _YOUNG_OBJECTS), *found[0][1:])
    return found


def _restore_collector(found: tuple[tuple[int, ...], bool]) -> None:
    """The collector as the run found it: a process that grades again and again (an embedding service, the test
    suite) must not keep each run's objects out of its collector's reach. What it froze itself stays frozen."""
    thresholds, nothing_frozen = found
    if nothing_frozen:
        gc.unfreeze()
    gc.set_threshold(*thresholds)


@dataclass(frozen=True)
class Outcome:
    """A submission's grade, the digest of what was graded, and where a grade already known came from."""

    grade: Grade
    digest: str
    earlier: str | None = None
    """What `known` said of a grade it gave (resumed, cached); None when graded now."""


class Grader:
    """Grades submissions of one assignment against cases built once per run.

    The cases, the catalogue and oracle, and the fork servers are made when a submission first
    needs them: a re-grade served wholly from the cache or the results log never builds them.
    """

    def __init__(self, assignment: Assignment, seed: int, jobs: int, timeout: float | None = None) -> None:
        self.assignment = assignment
        self.rubric = assignment.rubric
        self.settings = assignment.defaults.with_options(seed=seed, timeout=timeout)
        self.jobs = max(1, jobs)
        self._running: Pipeline | None = None

    @functools.cached_property
    def _allowed_globals(self) -> frozenset[str]:
        from grader.judge import source

        return source.allowed_globals(self.assignment.reference.namespace, self.rubric.function)

    @functools.cached_property
    def cases(self) -> list[Case]:
        from grader.assignment import cases as case_builder

        return case_builder.build(self.assignment, self.settings.seed)

    @functools.cached_property
    def _remembered(self) -> Remembered:
        from grader.judge.verdicts import Remembered

        return Remembered(self.rubric, self.cases, self.assignment.reference)

    @functools.cached_property
    def feedback(self) -> Feedback:
        from grader.judge import feedback

        return feedback.load(self.assignment, self.cases)

    def _pipeline(self, remaining: int = 1) -> Pipeline:
        """The fork servers, started when the first submission needs them (`remaining`: how many may).

        As many servers as can be busy are spawned first, side by side, so that their interpreters
        start while the cases are built here; then they get the cases.
        """
        if self._running is None:
            from grader.assignment import cases as case_builder
            from grader.sandbox.client import scratch_bytes
            from grader.sandbox.pipeline import Pipeline

            solutions = str(self.assignment.directory.parent.resolve())
            scratch = scratch_bytes(self.settings.limits.output_bytes)
            pipeline = Pipeline(None, self.jobs, hidden=(solutions,), scratch_bytes=scratch,
                                spawn=min(self.jobs, max(1, remaining)))
            try:
                pipeline.load([case_builder.case_to_wire(case) for case in self.cases], self._stub())
            except BaseException:
                pipeline.close()
                raise
            self._running = pipeline
        return self._running

    def _stub(self) -> Stub:
        """The stub's cells, for the fork servers to prepare once (a student's cell left as the stub has it is then
        not parsed in every child). Answers stripped: what every student is given, nothing of the reference's."""
        rubric = self.assignment.rubric
        return Stub(function=rubric.function, iterations=list(rubric.iteration_steps),
                    cells=[{"index": index, "source": text} for index, text in starting_cells(self.assignment)])

    def _started(self) -> bool:
        return self._running is not None

    def layers(self, start: bool = True) -> tuple[Layer, ...] | None:
        """The sandbox layers in effect for this run's children (None if none ran and `start` is false)."""
        if not start and not self._started():
            return None
        return self._pipeline().layers(start)

    def grade_all(self, submissions: Iterable[Submission],
                  known: Callable[[Submission, str], tuple[Grade, str] | None] = lambda submission, digest: None,
                  read: Mapping[str, bytes] = MappingProxyType({})) -> Iterator[Outcome]:
        """The outcome of each submission, in their order, whatever the number of jobs.

        `known` gets a submission and the digest of its bytes (`duplicates.digest`) and may give a
        grade already known (resumed or cached) with where it came from. It is asked first with the
        SHA-256 the file's bytes had when routing read them (`read`, by submission as given), so a
        grade known for those bytes costs no second read. Else the file is read here, just before its
        turn, and `known` asked again if the bytes changed; the others run in the fork servers,
        several at a time, and are judged here as their replies arrive.
        """
        ready: dict[int, Outcome] = {}
        total = len(submissions) if isinstance(submissions, Sized) else None
        upcoming = enumerate(submissions)
        taken = emitted = 0
        exhausted = False
        collector: tuple[tuple[int, ...], bool] | None = None
        try:
            while True:
                while not exhausted and (not self._started() or self._pipeline().capacity > 0) and len(ready) < _MAX_AHEAD:
                    item = next(upcoming, None)
                    if item is None:
                        exhausted = True
                        break
                    index, submission = item
                    taken += 1
                    # A file refused before it was read (`problem`) is graded by that reason, whatever routing read.
                    routed = read.get(submission.given) if submission.problem is None else None
                    routed_digest = duplicates.keyed(routed, submission) if routed is not None else None
                    earlier = known(submission, routed_digest) if routed_digest is not None else None
                    if earlier is not None:
                        ready[index] = Outcome(earlier[0], routed_digest, earlier[1])
                        continue
                    loaded = load(submission)
                    earlier = known(submission, loaded.digest) if loaded.digest != routed_digest else None
                    if earlier is not None:
                        ready[index] = Outcome(earlier[0], loaded.digest, earlier[1])
                        continue
                    prepared = prepare(loaded, self.rubric, self.settings.limits, self.assignment.reference.parameters)
                    if isinstance(prepared, Grade):
                        ready[index] = Outcome(duplicates.noted(prepared), loaded.digest)
                    else:
                        self._pipeline(total - index if total is not None else self.jobs).submit(
                            (index, submission, loaded.digest, prepared, False), prepared)
                while emitted in ready:
                    yield ready.pop(emitted)
                    emitted += 1
                if exhausted and emitted == taken:
                    return
                if self._started() and self._pipeline().in_flight:
                    # Loaded while the first jobs run, before the first is judged: a malformed catalogue or a wrong
                    # oracle stops the run (exit 2 or 3), where judging would turn the error into one submission's row.
                    _ = self.feedback
                    if collector is None:
                        collector = _settle_collector()
                    for done in self._pipeline().wait():
                        index, submission, digest, job, retried = done.tag
                        if not retried and _suspect(done.reply):
                            self._pipeline().submit((index, submission, digest, job, True), job, fresh=True)
                        else:
                            ready[index] = Outcome(duplicates.noted(self.judge(submission, done.reply, job)), digest)
        finally:
            if collector is not None:
                _restore_collector(collector)

    def grade(self, submission: Submission) -> Grade:
        return next(self.grade_all([submission])).grade

    def judge(self, submission: Submission, reply: SandboxReply, job: Job | None = None) -> Grade:
        from grader import judge
        from grader.judge import source

        if reply.failure:
            message = (f"{GRADER_FAILURE}: {reply.failure}. It failed again on a new sandbox process; the next run "
                       "grades this submission again (it is neither cached nor resumed).")
            return judge.unjudged(submission, self.rubric, ERROR, [message], seconds=reply.seconds)
        try:
            facts = None if job is None else source.read(job["cells"], self.rubric.function, job["parameters"],
                                                         self.rubric.step_names, self._allowed_globals)
            return judge.judge(submission, self.rubric, self.cases, reply, self.assignment.reference,
                               limits=self.settings.limits, feedback=self.feedback, source=facts,
                               remembered=self._remembered)
        except Exception as error:  # one submission's row, never the end of the batch
            message = f"internal error of the grader while judging this submission ({type(error).__name__})"
            return judge.unjudged(submission, self.rubric, ERROR, [message])

    def close(self) -> None:
        if self._running is not None:
            self._running.close()
            self._running = None

    def __enter__(self) -> Grader:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()
