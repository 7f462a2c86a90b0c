"""The command line: parse, call the library, print. No grading logic lives here."""

from __future__ import annotations

import os
import sys
import traceback
from pathlib import Path

import click

from grader import __version__, assignment, autograder, batch, selfcheck, stub
from grader import cases as case_builder
from grader.errors import ConfigError, GraderError
from grader.report import files, github, html, json_report, outputs, terminal
from grader.report.gradescope import HIDDEN_VISIBILITIES
from grader.sandbox import layers
from grader.sandbox.pool import Pool

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


def _sandbox_info(ctx: click.Context, _param, value: bool) -> None:
    """--sandbox-info: print the sandbox layers a probe child finds on this machine, and exit 0."""
    if not value or ctx.resilient_parsing:
        return
    with Pool([], 1) as pool:
        report = _guard(pool.layers, False)
    click.echo(layers.render(report))
    ctx.exit(0)


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
              help="Write the reports chosen with --format into DIR [default: results.json and gradebook.csv].")
@click.option("--format", "formats", type=click.Choice(outputs.FORMATS), multiple=True,
              help="A report for --out, repeatable: json (results.json), csv (gradebook.csv), gradescope "
                   "(gradescope/<student>.json), junit (junit.xml), github-summary (summary.md), github-annotations "
                   "(annotations.txt, the workflow commands --github prints).")
@click.option("--github/--no-github", "github_mode", default=None,
              help="Append a job summary to $GITHUB_STEP_SUMMARY, print annotations, and neutralise workflow "
                   "commands in everything printed [default: on when GITHUB_ACTIONS=true].")
@click.option("--feedback-html", is_flag=True,
              help="With --out: also write DIR/feedback/<student>.html, each student's notebook with the feedback "
                   "inserted after the graded function.")
@click.option("--fail-under", type=click.FloatRange(0, 100), metavar="PERCENT",
              help="Exit with status 1 if any submission scores below PERCENT.")
@click.option("-v", "--verbose", is_flag=True,
              help="Show every warning, the public values of every wrong step and printed output.")
@click.option("-q", "--quiet", is_flag=True, help="One line per submission.")
@click.option("--require-sandbox", "require", is_flag=False, flag_value="core", metavar="[LAYERS]",
              help="Refuse to grade (exit 2) unless these comma-separated sandbox layers are active; "
                   "alone it means 'core' (session, rlimits, seccomp, landlock-fs); 'all' means every layer.")
@click.option("--sandbox-info", is_flag=True, is_eager=True, expose_value=False, callback=_sandbox_info,
              help="Print which sandbox layers are active on this machine and exit.")
@click.version_option(__version__, prog_name="backprop-grader")
def grade(paths, assignment_name, solutions, jobs, timeout, seed, json_path, out, formats, github_mode, feedback_html,
          fail_under, verbose, quiet, require):
    """Grade notebooks against hidden cases, step by step.

    Each PATH is a notebook or a folder searched recursively for *.ipynb (checkpoints
    skipped). The student id is the folder under the given one
    (submissions/alice/backward_pass.ipynb -> alice) or the file name (submissions/alice.ipynb
    -> alice).

    Student code runs in a sandboxed child process, never in the grader. Exit status: 0 graded
    (whatever the scores), 1 --fail-under not met, 2 usage or configuration error, 3 internal
    error of the grader (including a reference that fails its own cases).
    """
    if feedback_html and not out:
        raise click.UsageError("--feedback-html writes into the --out folder: pass --out DIR too")
    verbosity = terminal.QUIET if quiet else terminal.VERBOSE if verbose else terminal.NORMAL
    to_stderr = json_path == "-"
    if github_mode is None:
        github_mode = os.environ.get("GITHUB_ACTIONS") == "true"
    grades = _guard(lambda: _grade(paths, assignment_name, solutions, jobs, timeout, seed, verbosity, to_stderr,
                                   json_path, out, formats or outputs.DEFAULT_FORMATS, github_mode, fail_under,
                                   feedback_html, require), verbose)
    if fail_under is not None and any(grade.percent < fail_under for grade in grades):
        below = sum(grade.percent < fail_under for grade in grades)
        click.echo(f"{below} submission(s) scored below {fail_under:g}%", err=True)
        sys.exit(1)


def _grade(paths, assignment_name, solutions, jobs, timeout, seed, verbosity, to_stderr, json_path, out, formats,
           github_mode, fail_under, feedback_html, require):
    # In GitHub mode every printed line may hold student text, so none may read as a workflow command.
    shown = github.log_safe if github_mode else str
    solutions_dir = _solutions_dir(solutions)
    names = assignment.available(solutions_dir)
    submissions = batch.find_submissions(paths)
    if not submissions:
        raise ConfigError(f"no notebooks (*.ipynb) found in {', '.join(map(str, paths))}")
    name = batch.resolve_assignment_name(names, assignment_name, submissions)
    loaded = assignment.load(solutions_dir, name)
    submissions = batch.find_submissions(paths, loaded.rubric.notebook)
    grades = []
    with batch.Grader(loaded, _seed(seed, loaded.rubric.seed), jobs, timeout) as grader:
        try:
            absent = layers.missing(grader.layers(), (require or "core").split(","))
        except ValueError as error:
            raise ConfigError(str(error)) from None
        if absent and require:
            raise ConfigError(f"refusing to grade: sandbox layer(s) {', '.join(absent)} not active here "
                              "(see grade --sandbox-info and docs/threat-model.md)")
        if absent and verbosity != terminal.QUIET:
            click.echo(f"warning: sandbox layer(s) {', '.join(absent)} not active here; see grade --sandbox-info", err=True)
        for grade in grader.grade_all(submissions):
            grades.append(grade)
            click.echo(shown(terminal.render(grade, verbosity)) + ("" if verbosity == terminal.QUIET else "\n"),
                       err=to_stderr)
    if len(grades) > 1:
        click.echo(shown(terminal.summary(grades)), err=to_stderr)
    max_score = loaded.rubric.max_score
    if json_path == "-":
        click.echo(json_report.render(name, max_score, grades), nl=False)
    elif json_path:
        files.write_atomically(Path(json_path), json_report.render(name, max_score, grades))
    graded = outputs.Batch(name, loaded.rubric.title, loaded.rubric.step_names, max_score, tuple(grades), fail_under)
    if out:
        written = outputs.write_all(out, graded, formats)
        click.echo(shown(f"reports written to {out}/ ({', '.join(written)})"), err=True)
    if feedback_html:
        pages = html.write_pages(grades, loaded.rubric.function, out / html.FOLDER)
        click.echo(f"{len(pages)} feedback page(s) written to {out / html.FOLDER}/", err=True)
    if github_mode:
        _publish_to_github(graded, to_stderr)
    return grades


def _publish_to_github(graded: outputs.Batch, to_stderr: bool) -> None:
    """The job summary into $GITHUB_STEP_SUMMARY (appended: other steps write there too), annotations to the log."""
    summary_path = os.environ.get("GITHUB_STEP_SUMMARY")
    if summary_path:
        with open(summary_path, "a", encoding="utf-8") as stream:
            stream.write(github.summary(graded.title, graded.step_names, graded.grades, graded.fail_under) + "\n")
    else:
        click.echo("GITHUB_STEP_SUMMARY is not set: no job summary written", err=True)
    click.echo(github.annotations(graded.grades, graded.fail_under), err=to_stderr)


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
    grade = _guard(lambda: autograder.run(layout, assignment_name, seed, hidden_visibility), True)
    click.echo(terminal.render(grade, terminal.VERBOSE))
    click.echo(f"wrote {layout.results_file}")
