"""Grading a class: find the notebooks once, route each to its assignment, grade, summarise, write the reports."""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import Callable, Iterator
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from grader import assignment, batch, lock, overrides, routing, session, shard, store
from grader.app import events
from grader.app.environment import seed, solutions_folder
from grader.errors import ConfigError, InternalError
from grader.intake import duplicates
from grader.models import ERROR, GRADED, INVALID, TIMEOUT, Grade, Limits
from grader.report import class_reports, files, github, html, summary
from grader.report.section import ClassInfo, Section
from grader.text import one_line

if TYPE_CHECKING:
    from grader.sandbox.layers import Layer

STATUSES = (GRADED, ERROR, TIMEOUT, INVALID)


class Terminated(KeyboardInterrupt):
    """SIGTERM (a CI job cancelled), raised where Ctrl-C raises KeyboardInterrupt so both stop a run alike."""


class Interrupted(KeyboardInterrupt):
    """A batch stopped by a signal, with what was saved and the exit status: 128 + the signal's number."""

    def __init__(self, message: str, exit_code: int) -> None:
        super().__init__(message)
        self.message, self.exit_code = message, exit_code



@dataclass(frozen=True)
class GradeClass:
    """`grade`: what to grade, how, and which reports to keep."""

    paths: tuple[Path, ...]
    solutions: Path | None
    assignment: str | None
    jobs: int | None
    """--jobs; None: the CPU count, or one more for a large class (`session.lanes`)."""
    timeout: float | None
    seed: int | None
    json_path: str | None
    """FILE, or '-' for stdout."""
    out: Path | None
    formats: tuple[str, ...]
    feedback_html: bool
    github: bool
    github_summary: Path | None
    """$GITHUB_STEP_SUMMARY in GitHub mode, appended to."""
    fail_under: float | None
    cache: bool
    cache_dir: Path | None
    shard: str | None
    require: str | None
    """The sandbox layers required (--require-sandbox), or None."""


def grade_class(request: GradeClass, emit: events.Emit) -> int:
    """Grade, emit and write the reports; return how many submissions scored below --fail-under."""
    solutions_dir = solutions_folder(request.solutions)
    # Locked before the assignments load (seconds), so a second run is refused before it does anything.
    with lock.exclusive(request.out) if request.out else nullcontext():
        return _grade_locked(request, solutions_dir, emit)


def _grade_locked(request: GradeClass, solutions_dir: Path, emit: events.Emit) -> int:
    chosen_shard = shard.parse(request.shard) if request.shard else None
    cache_dir = (request.cache_dir or session.default_cache_dir(request.out)) if request.cache else None
    groups = _groups(request.paths, solutions_dir, request.assignment, chosen_shard, cache_dir,
                     lambda count: _spawn_servers_ahead(request, solutions_dir, cache_dir, count))
    settings = session.Settings(seed(request.seed), request.jobs, request.timeout, request.out, cache_dir, chosen_shard)
    infos = {group.assignment.name: ClassInfo(
        group.assignment.name, group.assignment.rubric.title, group.assignment.rubric.step_names,
        group.assignment.rubric.max_score, request.fail_under,
        _feedback_folder(group.assignment.name, len(groups)) if request.feedback_html else None) for group in groups}
    builders = {name: summary.SummaryBuilder(info.step_names, info.max_score) for name, info in infos.items()}
    below = 0
    statuses: dict[str, int] = {}
    # Read once per run, applied to each grade as it is shown and as every report reads it back.
    book = overrides.read(request.out / overrides.FILE_NAME) if request.out else overrides.Overrides()
    with session.ClassRun(groups, settings) as run:
        if request.require:
            _check_sandbox(run.layers(), request.require, emit)
        try:
            emit(events.Started(len(run.submissions), len(run.submissions) if request.feedback_html else 0))
            for grade in run.grades():
                grade = book.apply(grade, run.assignment_of[grade.submission.given])
                emit(events.Graded(grade))
                builders[run.assignment_of[grade.submission.given]].add(grade)
                below += request.fail_under is not None and grade.percent < request.fail_under
                statuses[grade.status] = statuses.get(grade.status, 0) + 1
            emit(events.AllGraded())
            if book.rows or book.warnings:
                # The whole class, not only this shard: a row for another shard's student is not a mistake.
                present = ((each.student, group.assignment.name) for group in run.groups for each in group.submissions)
                unmatched = book.unmatched(present, request.out / overrides.FILE_NAME)
                emit(events.OverridesRead(request.out / overrides.FILE_NAME, len(book.rows) - len(unmatched),
                                          book.warnings + unmatched))
            found = run.layers(start=False)  # a run served wholly from the cache starts no sandbox to ask
            if found is not None and not request.require:
                _check_sandbox(found, None, emit)
            summaries = {name: builder.build() for name, builder in builders.items()}
            for name, class_summary in summaries.items():
                if class_summary.count > 1:
                    emit(events.Summarised(name if len(groups) > 1 else None, class_summary))
            spanning = tuple(infos) if len(groups) > 1 else ()
            emit(events.Tallied(len(run.submissions), chosen_shard, spanning, run.counts,
                                tuple((status, statuses[status]) for status in STATUSES if status in statuses)))

            def stored(name: str) -> Iterator[tuple[int, Grade]]:  # each report reads the grades back from the log
                return ((position, book.apply(grade, name)) for position, grade in run.stored(name))

            def sections() -> list[Section]:
                return [Section(info, summaries[name], stored(name)) for name, info in infos.items()]

            functions = {group.assignment.name: group.assignment.rubric.function for group in groups}
            _write_reports(request, stored, sections, functions, chosen_shard, emit)
        except KeyboardInterrupt as stop:
            # A second Ctrl-C must not cut short the shutdown of the sandbox's processes.
            signal.signal(signal.SIGINT, signal.SIG_IGN)
            signal.signal(signal.SIGTERM, signal.SIG_IGN)
            terminated = isinstance(stop, Terminated)
            raise Interrupted(_interrupted(run, request, cache_dir),
                              128 + (signal.SIGTERM if terminated else signal.SIGINT)) from None
    return below


def _spawn_servers_ahead(request: GradeClass, solutions_dir: Path, cache_dir: Path | None, found: int) -> None:
    """Fork servers for the `found` notebooks, spawned before they are read and routed, so that the servers'
    interpreters start on the other cores meanwhile (30 ms off a 20-notebook class, measured): one per
    notebook, up to --jobs, when notebook files are given or when no earlier grade can be reused (a re-grade from
    the cache or the results log starts none before it knows it needs one).

    Spawned with the default output limit: a pipeline takes them only when its mounts are the same, and the
    command closes the ones not taken (`ahead.close_unclaimed`), at the cost of their start.
    """
    if not hasattr(os, "fork"):
        return
    if not all(path.is_file() for path in request.paths) and not session.reuses_nothing(request.out, cache_dir):
        return
    from grader.sandbox import ahead, client

    ahead.spawn((str(solutions_dir.resolve()),), client.scratch_bytes(Limits.output_bytes),
                min(session.lanes(request.jobs, found), found))


def _write_reports(request: GradeClass, stored: Callable[[str], Iterator[tuple[int, Grade]]],
                   sections: Callable[[], list[Section]],
                   functions: dict[str, str], chosen_shard: shard.Shard | None, emit: events.Emit) -> None:
    """The JSON report, the --out reports, feedback pages and GitHub's; a report that failed is said after every
    other one is written (InternalError)."""
    unwritten: list[str] = []
    if request.json_path == "-":
        class_reports.write_json(sys.stdout, sections(), chosen_shard)
    elif request.json_path:
        try:
            with files.atomic_stream(Path(request.json_path)) as stream:
                class_reports.write_json(stream, sections(), chosen_shard)
        except OSError as error:
            unwritten.append(f"could not write {request.json_path} ({error.strerror or error})")
    if request.out:
        try:
            written = class_reports.write_sections(request.out, sections(), request.formats, chosen_shard)
            emit(events.ReportsWritten(request.out, tuple(written), session.RESULTS_LOG))
        except class_reports.ReportsFailed as error:
            unwritten.append(str(error))
    # Pages are rendered after grading, one worker a CPU unless --jobs says (each worker loads nbconvert, 0.4 s).
    workers = request.jobs or os.cpu_count() or 1
    for section in sections():
        name = section.info.assignment
        if request.feedback_html:
            folder = request.out / _feedback_folder(name, len(functions))
            pages = html.write_pages((grade for _, grade in section.entries), functions[name], folder, workers,
                                     lambda count: emit(events.PageProgress(count)))
            emit(events.PagesWritten(len(pages), folder))
        if request.github:
            _publish_to_github(section.info, [grade for _, grade in stored(name)], request.github_summary, emit)
    if unwritten:
        raise InternalError(one_line("; ".join(unwritten)))


def _interrupted(run: session.ClassRun, request: GradeClass, cache_dir: Path | None) -> str:
    """What a stopped batch kept, and how to go on from it (each report is written whole or not at all)."""
    counts = run.counts
    saved, total = counts.graded + counts.resumed + counts.cached, len(run.submissions)
    if request.out and request.cache:
        return (f"Interrupted: {saved} of {total} grades saved in {request.out / session.RESULTS_LOG}; "
                "run the same command again to resume.")
    if request.out:
        return (f"Interrupted: {saved} of {total} grades saved in {request.out / session.RESULTS_LOG}; "
                "run the same command without --no-cache to resume from them.")
    if cache_dir is not None:
        return (f"Interrupted: {saved} of {total} grades saved in the cache {cache_dir}; "
                "run the same command again to resume.")
    return f"Interrupted: {saved} of {total} graded, none saved (--no-cache without --out)."


def _groups(paths: tuple[Path, ...], solutions_dir: Path, requested: str | None, chosen_shard: shard.Shard | None,
            cache_dir: Path | None, on_found: Callable[[int], None]) -> list[session.Group]:
    """The notebooks found (one walk), split by the assignment each is for (grader/routing.py), each assignment
    loaded, each student named knowing its assignment's notebook. With a cache, identities are remembered there.
    `on_found` is told how many notebooks the walk found, before any is read."""
    names = assignment.available(solutions_dir)
    if requested is not None and requested not in names:
        assignment.load(solutions_dir, requested)  # the one-line error naming the assignments there
    found = batch.discover(paths)
    if not found:
        raise ConfigError(f"no notebooks (*.ipynb) found in {', '.join(map(str, paths))}")
    on_found(len(found))
    # With --assignment, an unreadable other assignment only loses its notebooks' identification.
    known = routing.signatures(solutions_dir, names, skip_broken=requested is not None)
    read: dict[str, bytes] = {}
    if cache_dir is None:
        identities = {each.submission.given: routing.identify(each.submission.path, known) for each in found}
    else:
        known_print = routing.fingerprint(known)
        memo = store.GradeLog(cache_dir / session.ROUTES_FILE)
        try:
            identities = {}
            for each in found:
                identity, digest = routing.identify_remembered(each.submission.path, known, memo, known_print)
                identities[each.submission.given] = identity
                if digest is not None:
                    read[each.submission.given] = digest
        finally:
            memo.close()
    plan = routing.plan([each.submission for each in found], identities, known, requested)
    if len(plan.groups) > 1 and chosen_shard is not None:
        raise ConfigError(f"--shard needs one assignment, and these notebooks are for {', '.join(plan.groups)}: "
                          "grade each with --assignment NAME")
    found_as = {each.submission.given: each for each in found}
    groups = []
    for name, members in plan.groups.items():
        loaded = assignment.load(solutions_dir, name)
        submissions = tuple(found_as[member.given].named(loaded.layout.notebook) for member in members)
        submissions, ignored = duplicates.one_per_student(submissions, loaded.layout.notebook,
                                                         {*plan.refusals, *map(str, paths)})
        refusals = {s.given: plan.refusals[s.given] for s in members if s.given in plan.refusals} | ignored
        groups.append(session.Group(loaded, submissions, refusals, read))
    return groups


def _check_sandbox(report: tuple[Layer, ...], require: str | None, emit: events.Emit) -> None:
    """Refuse to grade without the layers --require-sandbox names; otherwise warn about missing core layers."""
    from grader.sandbox import layers  # here: a re-grade served from the cache starts no sandbox, loads none of it

    try:
        absent = layers.missing(report, (require or "core").split(","))
    except ValueError as error:
        raise ConfigError(str(error)) from None
    if absent and require:
        raise ConfigError(f"refusing to grade: sandbox layer(s) {', '.join(absent)} not active here "
                          "(see grade --sandbox-info and docs/threat-model.md)")
    if absent:
        emit(events.LayersMissing(tuple(absent)))


def _feedback_folder(assignment_name: str, assignments: int) -> str:
    """Where --feedback-html writes an assignment's pages, relative to --out (the class report links there)."""
    return f"{html.FOLDER}/{assignment_name}" if assignments > 1 else html.FOLDER


def _publish_to_github(info: ClassInfo, grades: list[Grade], summary_path: Path | None,
                       emit: events.Emit) -> None:
    """The job summary into $GITHUB_STEP_SUMMARY (appended: other steps write there too), annotations to the log."""
    if summary_path:
        with open(summary_path, "a", encoding="utf-8") as stream:
            stream.write(github.summary(info.title, info.step_names, grades, info.fail_under) + "\n")
    else:
        emit(events.NoJobSummary())
    emit(events.Annotations(github.annotations(grades, info.fail_under)))

