"""The command line: parse, call the library, print. No grading logic lives here."""

from __future__ import annotations

import os
import signal
import sys
import traceback
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path

import click

from grader import __version__, assignment, autograder, batch, lock, merge, routing, selfcheck, session, shard, stub, validate
from grader.errors import ConfigError, GraderError, InternalError
from grader.intake import duplicates
from grader.report import class_reports, files, github, html, summary, terminal
from grader.report.gradescope import HIDDEN_VISIBILITIES
from grader.report.progress import Progress
from grader.sandbox import layers
from grader.sandbox.pipeline import Pipeline
from grader.text import one_line

SOLUTIONS_HELP = "Instructor's solutions folder [default: $GRADER_SOLUTIONS, else ./solutions]."


class _Failure(click.ClickException):
    """A GraderError shown as one line, with its own exit code (2 usage/configuration, 3 internal)."""

    def __init__(self, error: GraderError) -> None:
        super().__init__(str(error))
        self.exit_code = error.exit_code


class _Terminated(KeyboardInterrupt):
    """SIGTERM (a CI job cancelled), raised where Ctrl-C raises KeyboardInterrupt so both stop a run alike."""


class _Interrupted(KeyboardInterrupt):
    """A batch stopped by a signal, with what was saved and the exit status: 128 + the signal's number."""

    def __init__(self, message: str, exit_code: int) -> None:
        super().__init__(message)
        self.message, self.exit_code = message, exit_code


def _terminate(_signum, _frame) -> None:
    raise _Terminated()


def _solutions_dir(option: Path | None) -> Path:
    chosen = option or Path(os.environ.get("GRADER_SOLUTIONS") or "solutions")
    if not chosen.is_dir():
        raise ConfigError(f"solutions folder {chosen} not found: pass --solutions DIR or set GRADER_SOLUTIONS")
    return chosen


def _seed(option: int | None) -> int | None:
    """--seed, else $GRADER_SEED, else None: each assignment's rubric seed."""
    if option is not None:
        return option
    text = os.environ.get("GRADER_SEED")
    if text:
        try:
            return int(text)
        except ValueError:
            raise ConfigError(f"GRADER_SEED must be an integer, not {text!r}") from None
    return None


def _guard(action, verbose: bool):
    """Run `action`, turning the grader's own errors into one-line messages and exit codes."""
    try:
        return action()
    except GraderError as error:
        raise _Failure(error) from None
    except (click.ClickException, click.exceptions.Exit, KeyboardInterrupt):
        raise
    except Exception as error:
        if verbose:
            traceback.print_exc()
        raise _Failure(GraderError(f"internal error of the grader: {error!r} (run with -v for the traceback)")) from None


def _sandbox_info(ctx: click.Context, _param, value: bool) -> None:
    """--sandbox-info: print the sandbox layers a probe child finds on this machine, and exit 0."""
    if not value or ctx.resilient_parsing:
        return
    with Pipeline([], 1) as pipeline:
        report = _guard(pipeline.layers, False)
    click.echo(layers.render(report))
    ctx.exit(0)


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@click.option("--assignment", "assignment_name", metavar="NAME",
              help="Grade every notebook against NAME; a notebook for another assignment gets an error row "
                   "[default: each notebook against its own, told by its code, else its metadata].")
@click.option("--solutions", type=click.Path(file_okay=False, path_type=Path), help=SOLUTIONS_HELP)
@click.option("--jobs", "-j", type=click.IntRange(min=1), default=os.cpu_count() or 1, show_default="CPU count",
              help="Submissions graded in parallel.")
@click.option("--timeout", type=click.FloatRange(min=0.5), metavar="SECONDS",
              help="Wall-clock limit per submission [default: from the rubric].")
@click.option("--seed", type=int, help="Seed of the hidden cases [default: $GRADER_SEED, else the rubric's].")
@click.option("--json", "json_path", metavar="FILE|-", help="Write the JSON report to FILE, or to stdout with '-'.")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), metavar="DIR",
              help="Write the reports chosen with --format into DIR [default: results.json, gradebook.csv and "
                   "report.html], with the results log results.jsonl that a rerun resumes from.")
@click.option("--format", "formats", type=click.Choice(class_reports.FORMATS), multiple=True,
              help="A report for --out, repeatable: json (results.json), csv (gradebook.csv), html (report.html, the "
                   "class report), gradescope (gradescope/<student>.json), junit (junit.xml), github-summary "
                   "(summary.md), github-annotations (annotations.txt, the workflow commands --github prints).")
@click.option("--feedback-html", is_flag=True,
              help="With --out: also write DIR/feedback/<student>.html, each student's notebook with the feedback "
                   "inserted after the graded function.")
@click.option("--github/--no-github", "github_mode", default=None,
              help="Append a job summary to $GITHUB_STEP_SUMMARY, print annotations, and neutralise workflow "
                   "commands in everything printed [default: on when GITHUB_ACTIONS=true].")
@click.option("--fail-under", type=click.FloatRange(0, 100), metavar="PERCENT",
              help="Exit with status 1 if any submission scores below PERCENT.")
@click.option("-v", "--verbose", is_flag=True,
              help="Show every warning and the public-case values of every wrong step.")
@click.option("-q", "--quiet", is_flag=True, help="One line per submission, no progress bar.")
@click.option("--no-cache", is_flag=True,
              help="Grade every submission again: ignore the content cache and the results log of --out.")
@click.option("--cache-dir", type=click.Path(file_okay=False, path_type=Path), metavar="DIR",
              help="Content cache of grades [default: OUT/.cache with --out, else ~/.cache/backprop-grader].")
@click.option("--shard", "shard_text", metavar="K/N",
              help="Grade only shard K of N (a deterministic split by path); combine the shards with grade-merge.")
@click.option("--require-sandbox", "require", is_flag=False, flag_value="core", metavar="[LAYERS]",
              help="Refuse to grade (exit 2) unless these comma-separated sandbox layers are active; "
                   "alone it means 'core' (session, rlimits, seccomp, landlock-fs); 'all' means every layer.")
@click.option("--sandbox-info", is_flag=True, is_eager=True, expose_value=False, callback=_sandbox_info,
              help="Print which sandbox layers are active on this machine and exit.")
@click.version_option(__version__, prog_name="backprop-grader")
def grade(paths, assignment_name, solutions, jobs, timeout, seed, json_path, out, formats, feedback_html, github_mode,
          fail_under, verbose, quiet, no_cache, cache_dir, shard_text, require):
    """Grade notebooks against hidden cases, step by step.

    Each PATH is a notebook or a folder searched recursively for *.ipynb (checkpoints
    skipped). The student id is the folder under the given one
    (submissions/alice/<notebook of the assignment>.ipynb -> alice) or the file name (submissions/alice.ipynb
    -> alice).

    Student code runs in a sandboxed child process, never in the grader. Exit status: 0 graded
    (whatever the scores), 1 --fail-under not met, 2 usage or configuration error (including
    an --out folder in use by another run), 3 internal error of the grader (including a
    reference that fails its own cases), 130 interrupted (Ctrl-C) and 143 terminated (SIGTERM):
    the grades saved so far are resumed by the same command.
    """
    if feedback_html and not out:
        raise click.UsageError("--feedback-html writes into the --out folder: pass --out DIR too")
    options = _Options(
        verbosity=terminal.QUIET if quiet else terminal.VERBOSE if verbose else terminal.NORMAL,
        json_path=json_path, out=out, formats=tuple(formats) or class_reports.DEFAULT_FORMATS,
        feedback_html=feedback_html,
        github=os.environ.get("GITHUB_ACTIONS") == "true" if github_mode is None else github_mode,
        fail_under=fail_under, cache=not no_cache, cache_dir=cache_dir, shard=shard_text, require=require,
    )
    previous = {number: signal.getsignal(number) for number in (signal.SIGINT, signal.SIGTERM)}
    signal.signal(signal.SIGTERM, _terminate)
    try:
        below = _guard(lambda: _grade(paths, assignment_name, solutions, jobs, timeout, seed, options), verbose)
    except KeyboardInterrupt as stop:
        if isinstance(stop, _Interrupted):
            click.echo(stop.message, err=True)
            sys.exit(stop.exit_code)
        click.echo("Interrupted before any grade was saved.", err=True)
        sys.exit(128 + (signal.SIGTERM if isinstance(stop, _Terminated) else signal.SIGINT))
    finally:
        for number, handler in previous.items():
            signal.signal(number, signal.SIG_DFL if handler is None else handler)
    if below:
        click.echo(f"{below} submission(s) scored below {fail_under:g}%", err=True)
        sys.exit(1)


@dataclass(frozen=True)
class _Options:
    """How `grade` reports and keeps its results (everything but what to grade and how to run it)."""

    verbosity: int
    json_path: str | None
    out: Path | None
    formats: tuple[str, ...]
    feedback_html: bool
    github: bool
    """GitHub mode: summary and annotations, and nothing printed may read as a workflow command."""
    fail_under: float | None
    cache: bool
    cache_dir: Path | None
    shard: str | None
    require: str | None
    """The sandbox layers required (--require-sandbox), or None."""

    @property
    def to_stderr(self) -> bool:
        """With --json -, stdout carries the JSON alone."""
        return self.json_path == "-"


class _Terminal:
    """Prints a batch's lines; once the reader has gone (`grade ... | head`), stops printing, never grading."""

    def __init__(self, github_mode: bool) -> None:
        # Our own colours go before GitHub's escaping, which would otherwise mangle them into text.
        self._shown = (lambda text: github.log_safe(click.unstyle(text))) if github_mode else str
        self._gone: set[bool] = set()

    def echo(self, text: str, err: bool = False) -> None:
        if err in self._gone:
            return
        try:
            click.echo(self._shown(text), err=err)
        except BrokenPipeError:
            self._gone.add(err)
            # Point the closed stream at /dev/null so Python's own flush at exit stays quiet too.
            null = os.open(os.devnull, os.O_WRONLY)
            os.dup2(null, (sys.stderr if err else sys.stdout).fileno())
            os.close(null)


def _grade(paths, assignment_name, solutions, jobs, timeout, seed, options: _Options) -> int:
    """Grade, print and write the reports; return how many submissions scored below --fail-under."""
    solutions_dir = _solutions_dir(solutions)
    # Locked before the assignments load (seconds), so a second run is refused before it does anything.
    with lock.exclusive(options.out) if options.out else nullcontext():
        return _grade_locked(paths, assignment_name, solutions_dir, jobs, timeout, seed, options)


def _grade_locked(paths, assignment_name, solutions_dir: Path, jobs, timeout, seed, options: _Options) -> int:
    say = _Terminal(options.github).echo
    chosen_shard = shard.parse(options.shard) if options.shard else None
    groups = _groups(paths, solutions_dir, assignment_name, chosen_shard)
    cache_dir = (options.cache_dir or session.default_cache_dir(options.out)) if options.cache else None
    settings = session.Settings(_seed(seed), jobs, timeout, options.out, cache_dir, chosen_shard)
    infos = {group.assignment.name: class_reports.ClassInfo(
        group.assignment.name, group.assignment.rubric.title, group.assignment.rubric.step_names,
        group.assignment.rubric.max_score, options.fail_under) for group in groups}
    builders = {name: summary.SummaryBuilder(info.step_names, info.max_score) for name, info in infos.items()}
    below = 0
    with session.ClassRun(groups, settings) as run:
        if options.require:
            _check_sandbox(run.layers(), options)
        progress = Progress(len(run.submissions), sys.stderr, enabled=options.verbosity != terminal.QUIET,
                            terminal=sys.stderr.isatty())
        try:
            for grade in run.grades():
                progress.clear()
                text = terminal.render(grade, options.verbosity) + ("" if options.verbosity == terminal.QUIET else "\n")
                say(text, err=options.to_stderr)
                progress.advance()
                builders[run.assignment_of[grade.submission.given]].add(grade)
                below += options.fail_under is not None and grade.percent < options.fail_under
            progress.finish()
            found = run.layers(start=False)  # a run served wholly from the cache starts no sandbox to ask
            if found is not None and not options.require:
                _check_sandbox(found, options)
            summaries = {name: builder.build() for name, builder in builders.items()}
            for name, class_summary in summaries.items():
                if class_summary.count > 1:
                    heading = f"{name}:\n" if len(groups) > 1 else ""
                    say(heading + summary.render_text(class_summary), err=options.to_stderr)
            counts = run.counts
            count = len(run.submissions)
            where = f" of shard {chosen_shard}" if chosen_shard else ""
            spanning = f" over {len(groups)} assignments ({', '.join(infos)})" if len(groups) > 1 else ""
            say(f"{count} submission{'' if count == 1 else 's'}{where}{spanning}: {counts.graded} graded, {counts.resumed} "
                f"resumed from the results log, {counts.cached} from the cache", err=True)

            def sections() -> list[class_reports.Section]:
                return [class_reports.Section(info, summaries[name], run.stored(name)) for name, info in infos.items()]

            if options.json_path == "-":
                class_reports.write_json(sys.stdout, sections(), chosen_shard)
            unwritten: list[str] = []  # reports that failed are said after every other output is written
            if options.json_path and options.json_path != "-":
                try:
                    with files.atomic_stream(Path(options.json_path)) as stream:
                        class_reports.write_json(stream, sections(), chosen_shard)
                except OSError as error:
                    unwritten.append(f"could not write {options.json_path} ({error.strerror or error})")
            if options.out:
                try:
                    written = class_reports.write_sections(options.out, sections(), options.formats, chosen_shard)
                    say(f"reports written to {options.out}/ ({', '.join(written)}; log {session.RESULTS_LOG})", err=True)
                except class_reports.ReportsFailed as error:
                    unwritten.append(str(error))
            for group in groups:
                name = group.assignment.name
                grades = (grade for _, grade in run.stored(name))
                if options.feedback_html:
                    folder = options.out / html.FOLDER / (name if len(groups) > 1 else "")
                    pages = html.write_pages(grades, group.assignment.rubric.function, folder)
                    say(f"{len(pages)} feedback page(s) written to {folder}/", err=True)
                if options.github:
                    _publish_to_github(infos[name], [grade for _, grade in run.stored(name)], options.to_stderr)
            if unwritten:
                raise InternalError(one_line("; ".join(unwritten)))
        except KeyboardInterrupt as stop:
            # A second Ctrl-C must not cut short the shutdown of the sandbox's processes.
            signal.signal(signal.SIGINT, signal.SIG_IGN)
            signal.signal(signal.SIGTERM, signal.SIG_IGN)
            progress.clear()
            terminated = isinstance(stop, _Terminated)
            raise _Interrupted(_interrupted(run, options, cache_dir),
                               128 + (signal.SIGTERM if terminated else signal.SIGINT)) from None
    return below


def _interrupted(run: session.ClassRun, options: _Options, cache_dir: Path | None) -> str:
    """What a stopped batch kept, and how to go on from it (each report is written whole or not at all)."""
    counts = run.counts
    saved, total = counts.graded + counts.resumed + counts.cached, len(run.submissions)
    if options.out and options.cache:
        return (f"Interrupted: {saved} of {total} grades saved in {options.out / session.RESULTS_LOG}; "
                "run the same command again to resume.")
    if options.out:
        return (f"Interrupted: {saved} of {total} grades saved in {options.out / session.RESULTS_LOG}; "
                "run the same command without --no-cache to resume from them.")
    if cache_dir is not None:
        return (f"Interrupted: {saved} of {total} grades saved in the cache {cache_dir}; "
                "run the same command again to resume.")
    return f"Interrupted: {saved} of {total} graded, none saved (--no-cache without --out)."


def _groups(paths, solutions_dir: Path, requested: str | None, chosen_shard) -> list[session.Group]:
    """The notebooks found, split by the assignment each is for (grader/routing.py), each assignment loaded."""
    names = assignment.available(solutions_dir)
    if requested is not None and requested not in names:
        assignment.load(solutions_dir, requested)  # the one-line error naming the assignments there
    found = batch.find_submissions(paths)
    if not found:
        raise ConfigError(f"no notebooks (*.ipynb) found in {', '.join(map(str, paths))}")
    # With --assignment, an unreadable other assignment only loses its notebooks' identification.
    known = routing.signatures(solutions_dir, names, skip_broken=requested is not None)
    identities = {submission.given: routing.identify(submission.path, known) for submission in found}
    plan = routing.plan(found, identities, known, requested)
    if len(plan.groups) > 1 and chosen_shard is not None:
        raise ConfigError(f"--shard needs one assignment, and these notebooks are for {', '.join(plan.groups)}: "
                          "grade each with --assignment NAME")
    groups = []
    for name, members in plan.groups.items():
        loaded = assignment.load(solutions_dir, name)
        # Found again knowing the notebook's file name: alice/backward_pass.ipynb belongs to student alice.
        named = {submission.given: submission for submission in batch.find_submissions(paths, loaded.rubric.notebook)}
        submissions = tuple(named.get(submission.given, submission) for submission in members)
        submissions, ignored = duplicates.one_per_student(submissions, loaded.rubric.notebook,
                                                         {*plan.refusals, *map(str, paths)})
        refusals = {s.given: plan.refusals[s.given] for s in members if s.given in plan.refusals} | ignored
        groups.append(session.Group(loaded, submissions, refusals))
    return groups


def _check_sandbox(report: tuple[layers.Layer, ...], options: _Options) -> None:
    """Refuse to grade without the layers --require-sandbox names; otherwise warn about missing core layers."""
    try:
        absent = layers.missing(report, (options.require or "core").split(","))
    except ValueError as error:
        raise ConfigError(str(error)) from None
    if absent and options.require:
        raise ConfigError(f"refusing to grade: sandbox layer(s) {', '.join(absent)} not active here "
                          "(see grade --sandbox-info and docs/threat-model.md)")
    if absent and options.verbosity != terminal.QUIET:
        click.echo(f"warning: sandbox layer(s) {', '.join(absent)} not active here; see grade --sandbox-info", err=True)


def _publish_to_github(info: class_reports.ClassInfo, grades: list, to_stderr: bool) -> None:
    """The job summary into $GITHUB_STEP_SUMMARY (appended: other steps write there too), annotations to the log."""
    summary_path = os.environ.get("GITHUB_STEP_SUMMARY")
    if summary_path:
        with open(summary_path, "a", encoding="utf-8") as stream:
            stream.write(github.summary(info.title, info.step_names, grades, info.fail_under) + "\n")
    else:
        click.echo("GITHUB_STEP_SUMMARY is not set: no job summary written", err=True)
    click.echo(github.annotations(grades, info.fail_under), err=to_stderr)


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("notebook_path", metavar="NOTEBOOK", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--public-case", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="The assignment's public_case.json [default: the copy inside the notebook].")
@click.option("--timeout", type=click.FloatRange(min=0.5), default=10.0, show_default=True, metavar="SECONDS",
              help="Wall-clock limit for running the notebook.")
def check(notebook_path, public_case, timeout):
    """Check your own notebook on the public case, before you hand it in.

    Runs your notebook in a sandbox on the demo cell's inputs and shows, for every step of the
    graded function, your value next to the expected one. It needs no solutions: the public
    case travels inside the course's notebook (or pass --public-case). Hidden cases with other
    shapes and values are checked only when your notebook is graded. From inside the notebook:
    `from grader import selfcheck; selfcheck.notebook_check()` (save the notebook first).
    """
    def run():
        document = selfcheck.load_public_case(public_case, notebook_path)
        return selfcheck.check(notebook_path, document, timeout)

    grade = _guard(run, False)
    click.echo(selfcheck.report(grade))


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("names", nargs=-1, metavar="[ASSIGNMENT]...")
@click.option("--solutions", type=click.Path(file_okay=False, path_type=Path), help=SOLUTIONS_HELP)
@click.option("--assignments", "assignments_dir", type=click.Path(file_okay=False, path_type=Path),
              default=Path("assignments"), show_default=True, help="Where the student-facing files go.")
@click.option("--check", "check_only", is_flag=True,
              help="Write nothing; exit with status 1 if a committed file differs from a fresh generation.")
def make_stub(names, solutions, assignments_dir, check_only):
    """Regenerate the student stub notebook and public case from the reference (instructors).

    For each ASSIGNMENT (default: all in the solutions folder), reads the reference notebook,
    replaces every answer line marked `# SOLUTION` (or inside `# BEGIN SOLUTION` /
    `# END SOLUTION`) by `name = None`, clears outputs, tags the notebook with its assignment
    and writes it, with public_case.json (the demo inputs and every step's expected value),
    to ASSIGNMENTS/<assignment>/. Each folder is checked whole first (rubric, reference, cases,
    catalogue, oracle); a problem is one line naming the file, exit status 2, nothing written.
    """
    def run():
        solutions_dir = _solutions_dir(solutions)
        chosen = list(names) or assignment.available(solutions_dir)
        # Every folder is checked before anything is written: a broken one leaves every file as it was.
        checked = [validate.folder(solutions_dir, name) for name in chosen]
        stale = []
        for loaded, built in checked:
            for path, text in stub.outputs(loaded, built, assignments_dir).items():
                current = path.read_text(encoding="utf-8") if path.is_file() else None
                if current == text:
                    continue
                stale.append(path)
                if not check_only:
                    files.write_atomically(path, text)
        return stale

    stale = _guard(run, False)
    if check_only and stale:
        click.echo("out of date: " + ", ".join(map(str, stale)) + " (run grade-stub)", err=True)
        sys.exit(1)
    click.echo("up to date" if not stale else "wrote " + ", ".join(map(str, stale)))


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def gradescope_autograder():
    """Gradescope: build the autograder zip to upload, and the grading step it runs there.

    `grade-gradescope build` writes a zip holding setup.sh (installs this grader from the
    package inside the zip), run_autograder (grades /autograder/submission/*.ipynb into
    /autograder/results/results.json) and the assignment's solutions folder. Upload it as the
    assignment's autograder; keep it private, it holds the solutions.
    """


@gradescope_autograder.command("build")
@click.option("--solutions", type=click.Path(file_okay=False, path_type=Path), help=SOLUTIONS_HELP)
@click.option("--assignment", "assignment_name", metavar="NAME",
              help="Assignment to package [default: the only one in the solutions folder].")
@click.option("--output", "-o", type=click.Path(dir_okay=False, path_type=Path), default=Path("autograder.zip"),
              show_default=True, help="The zip to write.")
@click.option("--package", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="A wheel or sdist of backprop-grader to install on Gradescope [default: an sdist built from the "
                   "source checkout this grader runs from].")
@click.option("--hidden-visibility", type=click.Choice(HIDDEN_VISIBILITIES), default="after_due_date", show_default=True,
              help="Gradescope visibility of what the hidden cases showed for a wrong step.")
def gradescope_build(solutions, assignment_name, output, package, hidden_visibility):
    """Build the Gradescope autograder zip."""
    names = _guard(lambda: autograder.build(_solutions_dir(solutions), assignment_name, output, package,
                                            hidden_visibility), False)
    click.echo(f"wrote {output} ({', '.join(names)})")


@gradescope_autograder.command("run")
@click.option("--root", type=click.Path(file_okay=False, path_type=Path), envvar=autograder.ROOT_VARIABLE,
              default=autograder.DEFAULT_ROOT, show_default=True,
              help="Gradescope's folder with source/, submission/ and results/ [env: AUTOGRADER_ROOT].")
@click.option("--assignment", "assignment_name", metavar="NAME", required=True, help="Assignment to grade against.")
@click.option("--hidden-visibility", type=click.Choice(HIDDEN_VISIBILITIES), default="after_due_date", show_default=True,
              help="Gradescope visibility of what the hidden cases showed for a wrong step.")
@click.option("--seed", type=int, envvar="GRADER_SEED",
              help="Seed of the hidden cases [default: $GRADER_SEED, else the rubric's].")
def gradescope_run(root, assignment_name, hidden_visibility, seed):
    """Grade the submission and write results/results.json (what run_autograder does on Gradescope)."""
    layout = autograder.Layout(root)
    done = _guard(lambda: autograder.run(layout, assignment_name, seed, hidden_visibility), True)
    # stdout is for instructors only on Gradescope (results.json says stdout_visibility: hidden).
    for note in done.notes:
        click.echo(note)
    if done.layers:
        click.echo(layers.render(done.layers))
    click.echo(terminal.render(done.grade, terminal.VERBOSE))
    click.echo(f"wrote {layout.results_file}")


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("shards", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), metavar="DIR", required=True,
              help="Where to write the combined results.json, gradebook.csv and report.html.")
def merge_shards(shards, out):
    """Combine the reports of `grade --shard K/N` runs into the reports of the whole class.

    Each SHARD is a shard's --out folder or its results.json. Every shard of the split must be
    given; the combined reports list the submissions in the order a single run would.
    """
    def run():
        info, grades = merge.load(list(shards))
        return class_reports.write_all(out, info, merge.summarise(info, grades), grades), len(grades)

    written, count = _guard(run, False)
    click.echo(f"merged {count} submissions from {len(shards)} shards into {out}/ ({', '.join(written)})")
