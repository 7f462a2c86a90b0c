"""The `grade` and `grade-check` commands as installed: the fork server spawned before the command line is parsed.

Grading one notebook waits for two start-ups: the grader's (the command-line interface, numpy,
the assignment and its cases) and its fork server's (a new interpreter importing numpy, then its
probe child), which cost about the same. The CLI already spawns the server before loading the
assignment (grader/sandbox/ahead.py), but only once it is itself imported; spawned here, first
thing, the server comes up on another core while the CLI loads.

The command line is only glanced at: a server is spawned when its arguments name notebook files
and no folder, with no --help, --version or --sandbox-info, and with the solutions folder it names
(else $GRADER_SOLUTIONS, else ./solutions), as the CLI itself does once it has parsed them. A
glance that guesses wrong costs that server's start and nothing else: a pipeline takes it only if
the run's mounts are the same, the CLI spawns none of the same mounts again, and the command
closes it unused when it ends. A class folder gets no server here: measured, it gained nothing
there (the class's servers start while its notebooks are routed).

Both commands cap numpy's thread pools at one thread before anything imports numpy
(grader/blas_threads.py), and end the process themselves once the command has (`_leave`): the exit
status, the atexit handlers and the flushed streams are the interpreter's, its teardown of every
object is skipped.
"""

from __future__ import annotations

import os
import sys
from typing import NoReturn

from grader import blas_threads

_NOT_A_RUN = frozenset({"--help", "-h", "--version", "--sandbox-info"})
# Options of `grade` and `grade-check` followed by a value (never a notebook or a class folder).
_WITH_VALUES = frozenset({"--assignment", "--solutions", "--jobs", "-j", "--timeout", "--seed", "--json", "--out",
                          "--format", "--fail-under", "--cache-dir", "--shard", "--public-case"})
DEFAULT_OUTPUT_BYTES = 1024 * 1024
"""models.Limits.output_bytes (a test holds them equal): importing the models costs more than spawning here gains."""


def grade(prog_name: str | None = None) -> None:
    """`grade`: grader.cli.grade, its fork server spawned first for a run of notebook files."""
    blas_threads.cap(os.environ)  # before numpy is imported: its pool only takes the children's CPU here
    _open_missing_streams()
    arguments = sys.argv[1:]
    spawned = False
    if _grades_notebook_files(arguments):
        solutions = _value_of(arguments, "--solutions") or os.environ.get("GRADER_SOLUTIONS") or "solutions"
        if os.path.isdir(solutions):
            from grader.sandbox import ahead, client

            ahead.spawn((os.path.realpath(solutions),), client.scratch_bytes(DEFAULT_OUTPUT_BYTES))
            spawned = True
    from grader.cli import grade as command

    _run(lambda: command(prog_name=prog_name), spawned)


def check() -> None:
    """`grade-check`: grader.cli.check, its fork server spawned first."""
    blas_threads.cap(os.environ)
    _open_missing_streams()
    spawned = _grades_notebook_files(sys.argv[1:])
    if spawned:
        from grader.sandbox import ahead

        ahead.spawn()  # the self-check hides no folder
    from grader.cli import check as command

    _run(command, spawned)


def _open_missing_streams() -> None:
    """A command started with its stdout or stderr closed (`2>&-`, a service without a terminal) has None there:
    what it would show goes to /dev/null instead, and the grades, the exit status and the --out reports are the
    same as with them open."""
    for name in ("stdout", "stderr"):
        if getattr(sys, name) is None:
            setattr(sys, name, open(os.devnull, "w", encoding="utf-8"))


def _run(command, spawned: bool) -> None:
    """Run the command; a server spawned here and not taken is closed however it ends (a usage error too).

    The command ends with SystemExit (click's standalone mode); the process then ends at once (`_leave`).
    """
    try:
        command()
    except SystemExit as leaving:
        status = leaving.code
    else:
        status = None
    finally:
        if spawned:
            from grader.sandbox import ahead

            ahead.close_unclaimed()
    _leave(status)


def _leave(status: object) -> NoReturn:
    """End the process with `status` (a SystemExit code) as the interpreter's own exit would, without its teardown.

    The teardown frees every object of every module one by one: 30-40 ms after grading one notebook, a
    tenth of the run, spent on memory the kernel takes back at once anyway. What the teardown does
    that matters is done here first: the atexit handlers (temporary folders, multiprocessing's
    workers), threads that are not daemons joined, the standard streams flushed (a reader that has
    gone gets exit status 120, as from the interpreter).
    """
    import atexit

    if isinstance(status, int):
        code = status
    elif status is None:
        code = 0
    else:
        print(status, file=sys.stderr)
        code = 1
    if "threading" in sys.modules:
        import threading

        for thread in threading.enumerate():
            if thread is not threading.current_thread() and not thread.daemon:
                thread.join()
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            code = code or 120
    os._exit(code)


def _grades_notebook_files(arguments: list[str]) -> bool:
    """Whether the arguments name notebook files to grade, and no folder."""
    if not hasattr(os, "fork") or _NOT_A_RUN & set(arguments):
        return False
    named = [argument for position, argument in enumerate(arguments)
             if not argument.startswith("-") and not (position and arguments[position - 1] in _WITH_VALUES)]
    return bool(named) and all(os.path.isfile(argument) for argument in named)


def _value_of(arguments: list[str], option: str) -> str | None:
    for position, argument in enumerate(arguments):
        if argument == option and position + 1 < len(arguments):
            return arguments[position + 1]
        if argument.startswith(option + "="):
            return argument[len(option) + 1:]
    return None
