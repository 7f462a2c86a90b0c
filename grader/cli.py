"""The command line: options to requests of the use cases (grader/app/), their events to lines, errors to exit codes."""

from __future__ import annotations

import json
import os
import signal
import sys
import traceback
from pathlib import Path

import click

from grader import __version__, app
from grader.errors import ConfigError, GraderError
from grader.report import formats as report_formats
from grader.report import github, summary, terminal
from grader.report.gradescope import HIDDEN_VISIBILITIES
from grader.report.progress import Progress
from grader.sandbox import ahead

SOLUTIONS_HELP = "Instructor's solutions folder [default: $GRADER_SOLUTIONS, else ./solutions]."


class _Failure(click.ClickException):
    """A GraderError shown as one line, with its own exit code (2 usage/configuration, 3 internal)."""

    def __init__(self, error: GraderError) -> None:
        super().__init__(str(error))
        self.exit_code = error.exit_code


def _terminate(_signum, _frame) -> None:
    raise app.Terminated()


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
    from grader.sandbox import layers

    click.echo(layers.render(_guard(app.sandbox_layers, False)))
    ctx.exit(0)


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@click.option("--assignment", "assignment_name", metavar="NAME",
              help="Grade every notebook against NAME; a notebook for another assignment gets an error row "
                   "[default: each notebook against its own, told by its code, else its metadata].")
@click.option("--solutions", type=click.Path(file_okay=False, path_type=Path), help=SOLUTIONS_HELP)
@click.option("--jobs", "-j", type=click.IntRange(min=1),
              help="Submissions graded in parallel [default: the CPU count, one more for a class of at least "
                   "50 notebooks a CPU].")
@click.option("--timeout", type=click.FloatRange(min=0.5), metavar="SECONDS",
              help="Wall-clock limit per submission [default: from the rubric].")
@click.option("--seed", type=int, help="Seed of the hidden cases [default: $GRADER_SEED, else the rubric's].")
@click.option("--json", "json_path", metavar="FILE|-", help="Write the JSON report to FILE, or to stdout with '-'.")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), metavar="DIR",
              help="Write the reports chosen with --format into DIR [default: results.json, gradebook.csv and "
                   "report.html], with the results log results.jsonl that a rerun resumes from.")
@click.option("--format", "formats", type=click.Choice(report_formats.NAMES), multiple=True,
              help=report_formats.help_text())
@click.option("--feedback-html", is_flag=True,
              help="With --out: also write DIR/feedback/<student>.html, each student's notebook with the feedback "
                   "inserted after the graded function.")
@click.option("--github/--no-github", "github_mode", default=None,
              help="Append a job summary to $GITHUB_STEP_SUMMARY, print annotations, and neutralise workflow "
                   "commands in everything printed [default: on when GITHUB_ACTIONS=true].")
@click.option("--fail-under", type=click.FloatRange(0, 100), metavar="PERCENT",
              help="Exit with status 1 if any submission scores below PERCENT.")
@click.option("-v", "--verbose", is_flag=True,
              help="Show every submission in full: each step, every warning, the public-case values of every "
                   "wrong step [default: one line per submission, in full when there is only one].")
@click.option("-q", "--quiet", is_flag=True,
              help="One line per submission even for one, no progress bar, no colours, no sandbox warning.")
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
    if formats and not out:
        raise click.UsageError("--format chooses the reports written into the --out folder: pass --out DIR too")
    github_on = os.environ.get("GITHUB_ACTIONS") == "true" if github_mode is None else github_mode
    request = app.GradeClass(
        paths=tuple(paths), solutions=solutions, assignment=assignment_name, jobs=jobs, timeout=timeout, seed=seed,
        json_path=json_path, out=out, formats=tuple(formats) or report_formats.DEFAULT,
        feedback_html=feedback_html, github=github_on,
        github_summary=Path(os.environ["GITHUB_STEP_SUMMARY"]) if os.environ.get("GITHUB_STEP_SUMMARY") else None,
        fail_under=fail_under, cache=not no_cache, cache_dir=cache_dir, shard=shard_text, require=require,
    )
    lines = _ClassLines(terminal.QUIET if quiet else terminal.VERBOSE if verbose else terminal.NORMAL,
                        github_on, json_path == "-")
    previous = {number: signal.getsignal(number) for number in (signal.SIGINT, signal.SIGTERM)}
    signal.signal(signal.SIGTERM, _terminate)
    try:
        below = _guard(lambda: app.grade_class(request, lines.show), verbose)
    except KeyboardInterrupt as stop:
        lines.stopped()
        if isinstance(stop, app.Interrupted):
            click.echo(stop.message, err=True)
            sys.exit(stop.exit_code)
        click.echo("Interrupted before any grade was saved.", err=True)
        sys.exit(128 + (signal.SIGTERM if isinstance(stop, app.Terminated) else signal.SIGINT))
    finally:
        ahead.close_unclaimed()
        for number, handler in previous.items():
            signal.signal(number, signal.SIG_DFL if handler is None else handler)
    if below:
        click.echo(f"{below} submission(s) scored below {fail_under:g}%", err=True)
        sys.exit(1)


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


class _ClassLines:
    """The events of `grade` as lines: grades and summaries on stdout (stderr with --json -), the rest on stderr."""

    def __init__(self, verbosity: int, github_mode: bool, to_stderr: bool) -> None:
        self.verbosity, self.to_stderr = verbosity, to_stderr
        self._say = _Terminal(github_mode).echo
        self._progress: Progress | None = None
        self._detail = terminal.QUIET
        """How much of each grade is printed, known once the number of submissions is."""

    def stopped(self) -> None:
        if self._progress is not None:
            self._progress.clear()

    def show(self, event: app.Event) -> None:
        quiet = self.verbosity == terminal.QUIET
        if self._progress is not None and not isinstance(event, (app.Graded, app.AllGraded, app.PageProgress,
                                                                 app.PagesWritten)):
            self._progress.clear()  # a bar left before the pages are written; the next page redraws it
        match event:
            case app.Started(total, pages):
                self._progress = Progress(total + pages, sys.stderr, enabled=not quiet, terminal=sys.stderr.isatty())
                # A class scrolls as one line per student (details are in the reports and with -v); a lone
                # notebook is a student's own run, shown whole.
                one_line = quiet or (total > 1 and self.verbosity != terminal.VERBOSE)
                self._detail = terminal.QUIET if one_line else self.verbosity
            case app.Graded(grade):
                self._progress.clear()
                text = terminal.render(grade, self._detail)
                text = click.unstyle(text) if quiet else text
                self._say(text + ("" if self._detail == terminal.QUIET else "\n"), err=self.to_stderr)
                self._progress.advance()
            case app.AllGraded():
                if self._progress.complete:
                    self._progress.finish()
            case app.PageProgress(count):
                self._progress.advance(count)
            case app.OverridesRead(path, applied, warnings):
                for warning in warnings:
                    self._say(warning, err=True)
                self._say(f"{applied} override row(s) of {path} applied", err=True)
            case app.LayersMissing(absent):
                if not quiet:
                    click.echo(f"warning: sandbox layer(s) {', '.join(absent)} not active here; see grade --sandbox-info",
                               err=True)
            case app.Summarised(name, class_summary):
                heading = f"{name}:\n" if name is not None else ""
                self._say(heading + summary.render_text(class_summary), err=self.to_stderr)
            case app.Tallied(count, chosen_shard, assignments, counts, statuses):
                where = f" of shard {chosen_shard}" if chosen_shard else ""
                spanning = f" over {len(assignments)} assignments ({', '.join(assignments)})" if assignments else ""
                self._say(f"{count} submission{'' if count == 1 else 's'}{where}{spanning}: "
                          f"{', '.join(f'{number} {status}' for status, number in statuses)}; "
                          f"{counts.graded} run now, {counts.resumed} resumed from the results log, "
                          f"{counts.cached} from the cache", err=True)
            case app.ReportsWritten(folder, written, log):
                self._say(f"reports written to {folder}/ ({', '.join(written)}; log {log})", err=True)
            case app.PagesWritten(count, folder):
                if self._progress.complete:
                    self._progress.finish()
                else:
                    self._progress.clear()
                self._say(f"{count} feedback page(s) written to {folder}/", err=True)
            case app.NoJobSummary():
                click.echo("GITHUB_STEP_SUMMARY is not set: no job summary written", err=True)
            case app.Annotations(text):
                click.echo(text, err=self.to_stderr)


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("notebooks", metavar="NOTEBOOK...", nargs=-1, required=True,
                type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--public-case", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="The assignment's public_case.json [default: the copy inside the notebook].")
@click.option("--timeout", type=click.FloatRange(min=0.5), default=10.0, show_default=True, metavar="SECONDS",
              help="Wall-clock limit for running the notebook.")
@click.option("--json", "json_path", metavar="FILE|-",
              help="Also write the result as JSON to FILE, or only it to stdout with '-': the submission object of "
                   "`grade --json`, with score null (see README).")
@click.option("-v", "--verbose", is_flag=True,
              help="Show every value, every warning, what the notebook printed, and tracebacks of internal errors.")
def check(notebooks, public_case, timeout, json_path, verbose):
    """Check your own notebook on the public case, before you hand it in.

    Runs your notebook in a sandbox on the demo cell's inputs and shows, for every step of the
    graded function, whether your value is right there, and which known mistake a wrong one is.
    It needs no solutions: the public case travels inside the course's notebook (or pass
    --public-case). It gives no score: hidden cases with other shapes and values are checked
    only when your notebook is graded. From inside the notebook:
    `from grader import selfcheck; selfcheck.notebook_check()` (save the notebook first).
    Exit status: 0 checked (whatever it found, an unreadable notebook included), 2 usage error,
    3 internal error of the grader.
    """
    if hasattr(os, "fork"):
        ahead.spawn()  # the self-check's server: started while the check below loads what it needs
    try:
        from grader import selfcheck  # only this command needs it

        grades = _guard(lambda: app.check(app.Check(tuple(notebooks), public_case, timeout)), verbose)
    finally:
        ahead.close_unclaimed()
    if json_path is not None:
        text = json.dumps(selfcheck.document(grades), indent=1) + "\n"
        if json_path == "-":
            click.echo(text, nl=False)
            return
        try:
            Path(json_path).write_text(text, encoding="utf-8")
        except OSError as error:
            raise _Failure(ConfigError(f"cannot write the JSON to {json_path}: {error.strerror}")) from None
    click.echo("\n\n".join(selfcheck.report(item.grade, verbose) for item in grades))


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
    stale = _guard(lambda: app.make_stub(app.MakeStub(tuple(names), solutions, assignments_dir, check_only)), False)
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
    from grader import autograder  # here: every other command would pay for its imports (11 ms of CPU)

    names = _guard(lambda: autograder.build(app.solutions_folder(solutions), assignment_name, output, package,
                                            hidden_visibility), False)
    click.echo(f"wrote {output} ({', '.join(names)})")


@gradescope_autograder.command("run")
@click.option("--root", type=click.Path(file_okay=False, path_type=Path), envvar="AUTOGRADER_ROOT",
              default=Path("/autograder"), show_default=True,
              help="Gradescope's folder with source/, submission/ and results/ [env: AUTOGRADER_ROOT].")
@click.option("--assignment", "assignment_name", metavar="NAME", required=True, help="Assignment to grade against.")
@click.option("--hidden-visibility", type=click.Choice(HIDDEN_VISIBILITIES), default="after_due_date", show_default=True,
              help="Gradescope visibility of what the hidden cases showed for a wrong step.")
@click.option("--seed", type=int, envvar="GRADER_SEED",
              help="Seed of the hidden cases [default: $GRADER_SEED, else the rubric's].")
def gradescope_run(root, assignment_name, hidden_visibility, seed):
    """Grade the submission and write results/results.json (what run_autograder does on Gradescope)."""
    from grader import autograder

    layout = autograder.Layout(root)
    done = _guard(lambda: autograder.run(layout, assignment_name, seed, hidden_visibility), True)
    # stdout is for instructors only on Gradescope (results.json says stdout_visibility: hidden).
    for note in done.notes:
        click.echo(note)
    if done.layers:
        from grader.sandbox import layers

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
    written, count = _guard(lambda: app.merge(app.Merge(tuple(shards), out)), False)
    click.echo(f"merged {count} submissions from {len(shards)} shards into {out}/ ({', '.join(written)})")
