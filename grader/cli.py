"""The command line: parse, call the library, print. No grading logic lives here."""

from __future__ import annotations

import os
import sys
import traceback
from pathlib import Path

import click

from grader import __version__, assignment, batch, merge, selfcheck, session, shard, stub
from grader import cases as case_builder
from grader.errors import ConfigError, GraderError
from grader.report import class_reports, files, json_report, summary, terminal
from grader.report.progress import Progress

SOLUTIONS_HELP = "Instructor's solutions folder [default: $GRADER_SOLUTIONS, else ./solutions]."


class _Failure(click.ClickException):
    """A GraderError shown as one line, with its own exit code (2 usage/configuration, 3 internal)."""

    def __init__(self, error: GraderError) -> None:
        super().__init__(str(error))
        self.exit_code = error.exit_code


def _solutions_dir(option: Path | None) -> Path:
    chosen = option or Path(os.environ.get("GRADER_SOLUTIONS") or "solutions")
    if not chosen.is_dir():
        raise ConfigError(f"solutions folder {chosen} not found: pass --solutions DIR or set GRADER_SOLUTIONS")
    return chosen


def _seed(option: int | None, rubric_seed: int) -> int:
    if option is not None:
        return option
    text = os.environ.get("GRADER_SEED")
    if text:
        try:
            return int(text)
        except ValueError:
            raise ConfigError(f"GRADER_SEED must be an integer, not {text!r}") from None
    return rubric_seed


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


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@click.option("--assignment", "assignment_name", metavar="NAME",
              help="Assignment to grade against [default: from the notebooks' metadata, else the only one].")
@click.option("--solutions", type=click.Path(file_okay=False, path_type=Path), help=SOLUTIONS_HELP)
@click.option("--jobs", "-j", type=click.IntRange(min=1), default=os.cpu_count() or 1, show_default="CPU count",
              help="Submissions graded in parallel.")
@click.option("--timeout", type=click.FloatRange(min=0.5), metavar="SECONDS",
              help="Wall-clock limit per submission [default: from the rubric].")
@click.option("--seed", type=int, help="Seed of the hidden cases [default: $GRADER_SEED, else the rubric's].")
@click.option("--json", "json_path", metavar="FILE|-", help="Write the JSON report to FILE, or to stdout with '-'.")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), metavar="DIR",
              help="Write results.json and gradebook.csv into DIR.")
@click.option("--fail-under", type=click.FloatRange(0, 100), metavar="PERCENT",
              help="Exit with status 1 if any submission scores below PERCENT.")
@click.option("-v", "--verbose", is_flag=True,
              help="Show every warning, the public values of every wrong step and printed output.")
@click.option("-q", "--quiet", is_flag=True, help="One line per submission, no progress bar.")
@click.option("--no-cache", is_flag=True,
              help="Grade every submission again: ignore the content cache and the results log of --out.")
@click.option("--cache-dir", type=click.Path(file_okay=False, path_type=Path), metavar="DIR",
              help="Content cache of grades [default: OUT/.cache with --out, else ~/.cache/backprop-grader].")
@click.option("--shard", "shard_text", metavar="K/N",
              help="Grade only shard K of N (a deterministic split by path); combine the shards with grade-merge.")
@click.version_option(__version__, prog_name="backprop-grader")
def grade(paths, assignment_name, solutions, jobs, timeout, seed, json_path, out, fail_under, verbose, quiet,
          no_cache, cache_dir, shard_text):
    """Grade notebooks against hidden cases, step by step.

    Each PATH is a notebook or a folder searched recursively for *.ipynb (checkpoints
    skipped). The student id is the folder under the given one
    (submissions/alice/backward_pass.ipynb -> alice) or the file name (submissions/alice.ipynb
    -> alice).

    Student code runs in a sandboxed child process, never in the grader. Exit status: 0 graded
    (whatever the scores), 1 --fail-under not met, 2 usage or configuration error, 3 internal
    error of the grader (including a reference that fails its own cases).
    """
    verbosity = terminal.QUIET if quiet else terminal.VERBOSE if verbose else terminal.NORMAL
    to_stderr = json_path == "-"
    caching = _Caching(not no_cache, cache_dir, shard_text)
    below = _guard(lambda: _grade(paths, assignment_name, solutions, jobs, timeout, seed, verbosity, to_stderr,
                                  json_path, out, fail_under, caching), verbose)
    if below:
        click.echo(f"{below} submission(s) scored below {fail_under:g}%", err=True)
        sys.exit(1)


class _Caching:
    """The batch options of `grade` (cache, shard), kept together so `_grade` stays readable."""

    def __init__(self, enabled: bool, cache_dir: Path | None, shard_text: str | None) -> None:
        self.enabled, self.cache_dir, self.shard_text = enabled, cache_dir, shard_text


def _grade(paths, assignment_name, solutions, jobs, timeout, seed, verbosity, to_stderr, json_path, out, fail_under,
           caching: _Caching) -> int:
    """Grade, print and write the reports; return how many submissions scored below --fail-under."""
    solutions_dir = _solutions_dir(solutions)
    names = assignment.available(solutions_dir)
    submissions = batch.find_submissions(paths)
    if not submissions:
        raise ConfigError(f"no notebooks (*.ipynb) found in {', '.join(map(str, paths))}")
    name = batch.resolve_assignment_name(names, assignment_name, submissions)
    loaded = assignment.load(solutions_dir, name)
    submissions = batch.find_submissions(paths, loaded.rubric.notebook)
    chosen_shard = shard.parse(caching.shard_text) if caching.shard_text else None
    cache_dir = (caching.cache_dir or session.default_cache_dir(out)) if caching.enabled else None
    settings = session.Settings(_seed(seed, loaded.rubric.seed), jobs, timeout, out, cache_dir, chosen_shard)
    rubric = loaded.rubric
    info = class_reports.ClassInfo(name, rubric.title, rubric.step_names, rubric.max_score)
    builder = summary.SummaryBuilder(rubric.step_names, rubric.max_score)
    below = 0
    with session.ClassRun(loaded, submissions, settings) as run:
        progress = Progress(len(run.submissions), sys.stderr, enabled=verbosity != terminal.QUIET,
                            terminal=sys.stderr.isatty())
        for grade in run.grades():
            progress.clear()
            click.echo(terminal.render(grade, verbosity) + ("" if verbosity == terminal.QUIET else "\n"), err=to_stderr)
            progress.advance()
            builder.add(grade)
            below += fail_under is not None and grade.percent < fail_under
        progress.finish()
        class_summary = builder.build()
        if class_summary.count > 1:
            click.echo(summary.render_text(class_summary), err=to_stderr)
        counts = run.counts
        where = f" of shard {chosen_shard}" if chosen_shard else ""
        click.echo(f"{class_summary.count} submissions{where}: {counts.graded} graded, {counts.resumed} resumed from the "
                   f"results log, {counts.cached} from the cache", err=True)
        if json_path == "-":
            json_report.write(click.get_text_stream("stdout"), class_reports.json_fields(info, chosen_shard),
                              class_reports.documents(run.stored(), chosen_shard))
        elif json_path:
            with files.atomic_stream(Path(json_path)) as stream:
                json_report.write(stream, class_reports.json_fields(info, chosen_shard),
                                  class_reports.documents(run.stored(), chosen_shard))
        if out:
            written = class_reports.write_all(out, info, class_summary, run.stored(), chosen_shard)
            click.echo(f"reports written to {out}/ ({', '.join(written)}; log {session.RESULTS_LOG})", err=True)
    return below


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
    shapes and values are checked only when your notebook is graded.
    """
    def run():
        document = selfcheck.load_public_case(public_case, notebook_path)
        return selfcheck.check(notebook_path, document, timeout)

    grade = _guard(run, False)
    click.echo(terminal.render(grade, terminal.VERBOSE))
    click.echo("\n" + selfcheck.HONEST_NOTE)


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
    to ASSIGNMENTS/<assignment>/.
    """
    def run():
        solutions_dir = _solutions_dir(solutions)
        chosen = list(names) or assignment.available(solutions_dir)
        stale = []
        for name in chosen:
            loaded = assignment.load(solutions_dir, name)
            built = case_builder.build(loaded, loaded.rubric.seed)
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
